package org.tdpmmu.scenarios.model;

/**
 * A scenario that cannot be loaded or built. The message is one line, ready to print:
 * {@code FILE:LINE: FIELD: DETAIL} (line and field left out when unknown), for example
 * {@code small.yaml:7: vm.backing: "hugetlb" is not one of anonymous, anonymous_thp, ...}.
 */
public final class ScenarioException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String file;
    private final int line;
    private final String field;
    private final String detail;

    /**
     * @param file   the file name as the user gave it (or a label such as {@code <perf flags>})
     * @param line   1-based line, or 0 if unknown
     * @param field  the dotted field path ({@code phases[2].dirtyPass.writePercent}), or null
     * @param detail what is wrong, with the allowed values or range
     */
    public ScenarioException(String file, int line, String field, String detail) {
        super(format(file, line, field, detail));
        this.file = file;
        this.line = line;
        this.field = field;
        this.detail = detail;
    }

    private static String format(String file, int line, String field, String detail) {
        StringBuilder sb = new StringBuilder();
        if (file != null) {
            sb.append(file);
            if (line > 0) {
                sb.append(':').append(line);
            }
            sb.append(": ");
        }
        if (field != null && !field.isEmpty()) {
            sb.append(field).append(": ");
        }
        return shorten(sb.append(detail).toString());
    }

    /** Longest message: a value quoted from the file (a 900 KB name) is cut in the middle. */
    static final int MAX_MESSAGE = 600;

    private static String shorten(String m) {
        if (m.length() <= MAX_MESSAGE) {
            return m;
        }
        int keep = MAX_MESSAGE / 2;
        return m.substring(0, keep) + "...[" + (m.length() - 2 * keep) + " characters left out]..."
                + m.substring(m.length() - keep);
    }

    public String file() {
        return file;
    }

    public int line() {
        return line;
    }

    public String field() {
        return field;
    }

    public String detail() {
        return detail;
    }
}
