package org.tdpmmu.core;

/**
 * The page-table store has no free page, or {@link FaultInjection} failed this allocation (the
 * kernel's -ENOMEM from a page-table allocation). The store stays consistent: nothing was allocated
 * and no counter moved.
 */
public final class OutOfTablesException extends ResourceExhaustedException
{
    private static final long serialVersionUID = 1L;

    public OutOfTablesException(final String message)
    {
        super(message);
    }
}
