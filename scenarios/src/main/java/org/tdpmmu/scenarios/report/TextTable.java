package org.tdpmmu.scenarios.report;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A table of strings rendered with aligned columns: the first column left-aligned, the others
 * right-aligned (they hold numbers), two spaces between columns, a dashed rule under the header.
 */
public final class TextTable {

    private final List<String> header;
    private final List<List<String>> rows = new ArrayList<>();

    public TextTable(String... header) {
        this(Arrays.asList(header));
    }

    public TextTable(List<String> header) {
        this.header = List.copyOf(header);
    }

    /** Adds a row; missing cells are blank, extra cells are an error. */
    public TextTable row(String... cells) {
        return row(Arrays.asList(cells));
    }

    public TextTable row(List<String> cells) {
        if (cells.size() > header.size()) {
            throw new IllegalArgumentException("row has " + cells.size() + " cells, header " + header.size());
        }
        List<String> r = new ArrayList<>(cells);
        while (r.size() < header.size()) {
            r.add("");
        }
        rows.add(r);
        return this;
    }

    public List<String> header() {
        return header;
    }

    public List<List<String>> rows() {
        return List.copyOf(rows);
    }

    /** The table as lines of text, each ending with a newline. */
    public String render() {
        int[] width = new int[header.size()];
        for (int c = 0; c < width.length; c++) {
            width[c] = header.get(c).length();
            for (List<String> r : rows) {
                width[c] = Math.max(width[c], r.get(c).length());
            }
        }
        StringBuilder sb = new StringBuilder();
        line(sb, header, width);
        int total = Arrays.stream(width).sum() + 2 * (width.length - 1);
        sb.append("-".repeat(total)).append('\n');
        for (List<String> r : rows) {
            line(sb, r, width);
        }
        return sb.toString();
    }

    private static void line(StringBuilder sb, List<String> cells, int[] width) {
        StringBuilder l = new StringBuilder();
        for (int c = 0; c < width.length; c++) {
            if (c > 0) {
                l.append("  ");
            }
            String s = cells.get(c);
            String pad = " ".repeat(width[c] - s.length());
            l.append(c == 0 ? s + pad : pad + s);
        }
        sb.append(l.toString().stripTrailing()).append('\n');
    }
}
