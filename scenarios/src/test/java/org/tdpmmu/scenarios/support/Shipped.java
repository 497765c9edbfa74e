package org.tdpmmu.scenarios.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** The scenario files shipped in the module directory. */
public final class Shipped {

    /** The files the docs name; each must exist. */
    public static final List<String> DOCUMENTED = List.of("small-default.yaml", "kernel-sized.yaml",
            "kernel-default-flow.yaml", "migration-race.yaml", "mixed-backing.yaml");

    /** Every {@code *.yaml} next to FORMAT.md, found on disk, so a new scenario cannot escape the tests. */
    public static final List<String> NAMES = list();

    private Shipped() {
    }

    private static List<String> list() {
        try (Stream<Path> files = Files.list(moduleDir())) {
            return files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".yaml")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The module directory (surefire sets {@code basedir}; else the working directory). */
    public static Path moduleDir() {
        Path base = Path.of(System.getProperty("basedir", ""));
        if (Files.exists(base.resolve("small-default.yaml"))) {
            return base;
        }
        Path sub = Path.of("scenarios");
        return Files.exists(sub.resolve("small-default.yaml")) ? sub : Path.of("");
    }

    public static Path path(String name) {
        return moduleDir().resolve(name);
    }
}
