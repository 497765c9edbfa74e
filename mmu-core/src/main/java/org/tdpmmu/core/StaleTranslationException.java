package org.tdpmmu.core;

/**
 * A vCPU accessed a host frame that had been freed (migrated away): its translation outlived the
 * invalidation that should have removed it (safety properties 1 and 5).
 */
public final class StaleTranslationException extends IllegalStateException
{
    private static final long serialVersionUID = 1L;

    public StaleTranslationException(final String message)
    {
        super(message);
    }
}
