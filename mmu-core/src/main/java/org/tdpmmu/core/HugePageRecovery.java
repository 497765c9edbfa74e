package org.tdpmmu.core;

/**
 * What to do with a memslot's 4 KiB mappings when dirty logging is turned off, so that huge pages
 * come back. One implementation per kernel generation ({@link RecoveryStrategy}); a user may add
 * their own, built on {@link TdpMmu}'s public atomic operations.
 */
public interface HugePageRecovery
{
    /** Short name for reports. */
    String name();

    /**
     * Recovers huge pages in {@code slot}. Called with no lock held, after the slot's dirty logging
     * was turned off; takes the MMU lock itself in whatever mode it needs.
     */
    void recover(TdpMmu mmu, Memslot slot);
}
