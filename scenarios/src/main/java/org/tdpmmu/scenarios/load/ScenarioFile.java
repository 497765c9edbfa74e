package org.tdpmmu.scenarios.load;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemLoopException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import org.tdpmmu.scenarios.model.ScenarioException;
import org.tdpmmu.scenarios.model.Sizes;

/**
 * Reads a scenario file's text, refusing what is not a small UTF-8 text file before it can hurt:
 * a device ({@code /dev/zero}) or a FIFO is never opened, a file over {@link #MAX_BYTES} is refused
 * from its size before a byte is read (and the read itself stops one byte past the cap, should the
 * file grow meanwhile), and bytes that are not UTF-8 are named by their offset and line.
 */
final class ScenarioFile {

    /**
     * The largest scenario file: 3 MiB, the YAML parser's own limit on a document (SnakeYAML's
     * code-point limit, which a file of 3 MiB of UTF-8 cannot exceed). The biggest useful scenario,
     * 32764 slots each with its size, backing and base, is about 1.5 MiB.
     */
    static final int MAX_BYTES = 3 << 20;

    private ScenarioFile() {
    }

    /** The text of {@code path}; every refusal is a {@link ScenarioException} naming {@code name}. */
    static String read(Path path, String name) {
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(path, BasicFileAttributes.class);
        } catch (IOException e) {
            throw new ScenarioException(name, 0, null, ioProblem(e));
        }
        if (attrs.isDirectory()) {
            throw new ScenarioException(name, 0, null, "is a directory, not a scenario file");
        }
        if (!attrs.isRegularFile()) {
            throw new ScenarioException(name, 0, null,
                    "is not a regular file (a device, FIFO or socket); a scenario is a YAML text file");
        }
        if (attrs.size() > MAX_BYTES) {
            throw new ScenarioException(name, 0, null, tooBig(attrs.size()));
        }
        byte[] bytes;
        try (InputStream in = Files.newInputStream(path)) {
            bytes = in.readNBytes(MAX_BYTES + 1);
        } catch (IOException e) {
            throw new ScenarioException(name, 0, null, ioProblem(e));
        }
        if (bytes.length > MAX_BYTES) {
            throw new ScenarioException(name, 0, null, tooBig(bytes.length));
        }
        return decode(bytes, name);
    }

    /** {@code bytes} as UTF-8; malformed input is refused with its offset and line. */
    static String decode(byte[] bytes, String name) {
        CharsetDecoder d = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult r = d.decode(in, out, true);
        if (!r.isError()) {
            r = d.flush(out);
        }
        if (r.isError()) {
            int at = in.position();
            int line = 1;
            for (int i = 0; i < at; i++) {
                if (bytes[i] == '\n') {
                    line++;
                }
            }
            throw new ScenarioException(name, line, null, String.format(
                    "not UTF-8 text (byte 0x%02x at offset %d); a scenario is a YAML text file in UTF-8",
                    bytes[at] & 0xff, at));
        }
        out.flip();
        return out.toString();
    }

    /** The reason an I/O failure gives, in words: "no such file", "permission denied", ... */
    static String ioProblem(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "no such file";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof NotDirectoryException) {
            return "no such file (a part of the path is not a directory)";
        }
        if (e instanceof FileSystemLoopException) {
            return "cannot read: too many levels of symbolic links";
        }
        String m = e.getMessage();
        return "cannot read: " + (m == null ? e.getClass().getSimpleName() : m);
    }

    private static String tooBig(long size) {
        return "is " + size + " bytes, more than the " + MAX_BYTES + " (" + Sizes.human(MAX_BYTES)
                + ") a scenario file may have";
    }
}
