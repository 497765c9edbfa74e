package org.tdpmmu.scenarios.model;

import java.util.Objects;

/**
 * One memslot of guest memory ({@code struct kvm_memory_slot}): a range of guest frames and the host
 * memory behind it.
 *
 * @param id      slot number, 0-based, in the order the scenario lists the slots
 * @param baseGfn the first guest frame number (4 KiB frames)
 * @param pages   the number of 4 KiB guest frames, a multiple of {@code backing.pageFrames()}
 * @param backing the host memory backing the slot
 */
public record SlotConfig(int id, long baseGfn, long pages, Backing backing) {

    /**
     * The most 4 KiB pages one memslot may have: KVM_MEM_MAX_NR_PAGES, 2^31 - 1 (8 TiB less 4 KiB);
     * KVM_SET_USER_MEMORY_REGION refuses a larger slot with EINVAL, as its dirty bitmap's bit
     * operations take an int position.
     */
    public static final long MAX_PAGES = (1L << 31) - 1;
    /** {@link #MAX_PAGES} for messages. */
    public static final String MAX_PAGES_TEXT = "KVM allows in one memslot (KVM_MEM_MAX_NR_PAGES: 2^31 - 1 pages, 8 TiB - 4 KiB)";

    public SlotConfig {
        Objects.requireNonNull(backing, "backing");
        if (id < 0 || baseGfn < 0 || pages <= 0) {
            throw new IllegalArgumentException("bad slot " + id + ": base " + baseGfn + ", " + pages + " pages");
        }
        if (pages > MAX_PAGES) {
            throw new IllegalArgumentException("slot " + id + ": " + Sizes.human(pages * Sizes.KIB_4) + " is more than "
                    + MAX_PAGES_TEXT);
        }
        if (pages % backing.pageFrames() != 0) {
            throw new IllegalArgumentException("slot " + id + ": " + pages
                    + " pages is not a multiple of the " + backing.yamlName() + " page");
        }
    }

    /** The slot size in bytes. */
    public long sizeBytes() {
        return pages * Sizes.KIB_4;
    }

    /** The first guest frame after the slot. */
    public long endGfn() {
        return baseGfn + pages;
    }

    /**
     * The largest mapping level the slot can ever use: the backing's {@link Backing#maxLevel()},
     * lowered while the base gfn is not aligned to that level's page size. KVM maps a huge page only
     * where the guest frame and the host address are equally aligned; the host pages of a slot are
     * aligned at the slot's start, so a base gfn misaligned for 1 GiB (but aligned for 2 MiB) on
     * 1 GiB hugetlb memory allows 2 MiB mappings only.
     *
     * @return 1 (4 KiB), 2 (2 MiB) or 3 (1 GiB)
     */
    public int maxLevel() {
        int level = backing.maxLevel();
        while (level > 1 && baseGfn % (1L << (9 * (level - 1))) != 0) {
            level--;
        }
        return level;
    }
}
