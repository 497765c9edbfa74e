package org.tdpmmu.scenarios.engine;

import java.util.Iterator;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.function.Supplier;

/**
 * Where the CLI finds the {@link ScenarioEngine}. In order:
 * <ol>
 * <li>an engine registered with {@link #register(Supplier)} (tests, embedding programs);</li>
 * <li>the class named by the system property {@value #PROPERTY} (public no-argument constructor);</li>
 * <li>the first {@code ScenarioEngine} provider found by {@link ServiceLoader} — the intended way for
 *     the mmu-core engine: a file
 *     {@code META-INF/services/org.tdpmmu.scenarios.engine.ScenarioEngine} naming the class.</li>
 * </ol>
 */
public final class EngineProvider {

    /** System property naming a ScenarioEngine class. */
    public static final String PROPERTY = "tdpmmu.engine";

    private static volatile Supplier<? extends ScenarioEngine> registered;

    private EngineProvider() {
    }

    /** Registers the engine the CLI will use; replaces any earlier registration. */
    public static void register(Supplier<? extends ScenarioEngine> engine) {
        registered = engine;
    }

    /** Whether an engine object was registered (it exists in this JVM only, a child JVM cannot find it). */
    public static boolean hasRegistered() {
        return registered != null;
    }

    /** Forgets the registered engine (tests). */
    public static void clear() {
        registered = null;
    }

    /**
     * The engine to use, if any.
     *
     * @throws IllegalStateException if the system property names a class that cannot be instantiated
     */
    public static Optional<ScenarioEngine> find() {
        Supplier<? extends ScenarioEngine> s = registered;
        if (s != null) {
            return Optional.ofNullable(s.get());
        }
        String cls = System.getProperty(PROPERTY);
        if (cls != null && !cls.isBlank()) {
            try {
                return Optional.of((ScenarioEngine) Class.forName(cls.strip()).getConstructor().newInstance());
            } catch (ReflectiveOperationException | ClassCastException e) {
                throw new IllegalStateException("-D" + PROPERTY + "=" + cls + ": cannot create the engine: " + e, e);
            }
        }
        ClassLoader cl = Thread.currentThread().getContextClassLoader();
        Iterator<ScenarioEngine> it = ServiceLoader.load(ScenarioEngine.class,
                cl != null ? cl : EngineProvider.class.getClassLoader()).iterator();
        return it.hasNext() ? Optional.of(it.next()) : Optional.empty();
    }
}
