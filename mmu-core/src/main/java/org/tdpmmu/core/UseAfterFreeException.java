package org.tdpmmu.core;

/**
 * A page-table page was read or written after it was freed (safety property 3). Raised by the
 * checked accessors of {@link PageTableStore}; in the kernel this is the bug RCU-deferred freeing
 * of unlinked tables exists to prevent.
 */
public final class UseAfterFreeException extends IllegalStateException
{
    private static final long serialVersionUID = 1L;

    private final long tablePfn;

    public UseAfterFreeException(final long tablePfn, final String message)
    {
        super(message);
        this.tablePfn = tablePfn;
    }

    public long tablePfn()
    {
        return tablePfn;
    }
}
