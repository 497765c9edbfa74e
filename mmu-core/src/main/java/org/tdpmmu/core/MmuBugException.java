package org.tdpmmu.core;

/**
 * The model reached a state the kernel treats as a bug (KVM_BUG_ON / BUG): e.g. a present leaf
 * changed to another present leaf with a different pfn without being zapped first.
 */
public final class MmuBugException extends IllegalStateException
{
    private static final long serialVersionUID = 1L;

    public MmuBugException(final String message)
    {
        super(message);
    }
}
