package org.tdpmmu.scenarios.kvm;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * KVM's binary statistics (KVM_GET_STATS_FD, Documentation/virt/kvm/api.rst "KVM_GET_STATS_FD"):
 * a header (u32 flags, name_size, num_desc, id_offset, desc_offset, data_offset), an id string,
 * num_desc descriptors (u32 flags, s16 exponent, u16 size, u32 offset, u32 bucket_size, then a
 * name of name_size bytes) and the data block, where a descriptor's values are {@code size} u64s
 * at data_offset + offset. Only the first value of each statistic is kept (histograms are
 * reduced to their first bucket's count, which kvm-check does not use).
 */
public final class KvmStats {
    private static final int HEADER = 24;
    private static final int DESC_FIXED = 16;

    private final Map<String, Long> values;

    private KvmStats(Map<String, Long> values) {
        this.values = values;
    }

    /** Reads every statistic of the stats file {@code fd}, then closes it. */
    static KvmStats read(int fd) {
        try (Memory header = new Memory(HEADER)) {
            pread(fd, header, HEADER, 0);
            final int nameSize = header.getInt(4);
            final int count = header.getInt(8);
            final int descOffset = header.getInt(16);
            final int dataOffset = header.getInt(20);
            final int descSize = DESC_FIXED + nameSize;
            final Map<String, Long> m = new LinkedHashMap<>();
            try (Memory desc = new Memory((long) descSize * Math.max(1, count))) {
                pread(fd, desc, (long) descSize * count, descOffset);
                long dataBytes = 0;
                for (int i = 0; i < count; i++) {
                    final long d = (long) i * descSize;
                    dataBytes = Math.max(dataBytes, desc.getInt(d + 8) + 8L * (desc.getShort(d + 6) & 0xFFFF));
                }
                try (Memory data = new Memory(Math.max(8, dataBytes))) {
                    pread(fd, data, dataBytes, dataOffset);
                    for (int i = 0; i < count; i++) {
                        final long d = (long) i * descSize;
                        m.put(desc.getString(d + DESC_FIXED), data.getLong(desc.getInt(d + 8)));
                    }
                }
            }
            return new KvmStats(m);
        } finally {
            KvmVm.closeQuietly(fd);
        }
    }

    private static void pread(int fd, Memory buf, long count, long offset) {
        long done = 0;
        while (done < count) {
            final long n = LibC.C.pread(fd, buf.share(done), count - done, offset + done);
            if (n <= 0) {
                throw new LastErrorException("short read of the KVM stats file at " + (offset + done));
            }
            done += n;
        }
    }

    /** The value of statistic {@code name}, or -1 when this host does not expose it. */
    public long get(String name) {
        return values.getOrDefault(name, -1L);
    }

    public Map<String, Long> all() {
        return values;
    }

    /** Adds each statistic of {@code other} to this one's (vCPU stats summed over the vCPUs). */
    KvmStats plus(KvmStats other) {
        final Map<String, Long> m = new LinkedHashMap<>(values);
        other.values.forEach((k, v) -> m.merge(k, v, Long::sum));
        return new KvmStats(m);
    }

    /** Each statistic minus its value in {@code before}. */
    public KvmStats minus(KvmStats before) {
        final Map<String, Long> m = new LinkedHashMap<>();
        values.forEach((k, v) -> m.put(k, v - before.values.getOrDefault(k, 0L)));
        return new KvmStats(m);
    }

    static KvmStats empty() {
        return new KvmStats(new LinkedHashMap<>());
    }
}
