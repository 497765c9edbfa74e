package org.tdpmmu.scenarios.support;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** The scenario files shipped in the module directory. */
public final class Shipped {

    public static final List<String> NAMES = List.of("small-default.yaml", "kernel-sized.yaml",
            "migration-race.yaml", "mixed-backing.yaml");

    private Shipped() {
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
