package org.tdpmmu.scenarios.kvm;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Reads /proc/self/smaps to tell how much of a host range transparent huge pages back. */
final class Smaps {
    private Smaps() {
    }

    /** AnonHugePages bytes of the mappings that overlap [start, start + length); 0 if unreadable. */
    static long anonHugeBytes(long start, long length) {
        final List<String> lines;
        try {
            lines = Files.readAllLines(Path.of("/proc/self/smaps"));
        } catch (IOException e) {
            return 0;
        }
        long total = 0;
        boolean inRange = false;
        for (String line : lines) {
            final int dash = line.indexOf('-');
            final int space = line.indexOf(' ');
            if (dash > 0 && space > dash && isHex(line, 0, dash)) {
                final long lo = Long.parseUnsignedLong(line.substring(0, dash), 16);
                final long hi = Long.parseUnsignedLong(line.substring(dash + 1, space), 16);
                inRange = lo < start + length && hi > start;
            } else if (inRange && line.startsWith("AnonHugePages:")) {
                total += Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        return total;
    }

    private static boolean isHex(String s, int from, int to) {
        for (int i = from; i < to; i++) {
            if (Character.digit(s.charAt(i), 16) < 0) {
                return false;
            }
        }
        return to > from;
    }
}
