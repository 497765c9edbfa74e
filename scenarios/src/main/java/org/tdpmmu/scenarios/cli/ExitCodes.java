package org.tdpmmu.scenarios.cli;

/** Exit codes of the {@code tdpmmu} command. */
public final class ExitCodes {
    /** The run completed and every safety property held. */
    public static final int OK = 0;
    /** The run completed with safety violations (each printed on stderr). */
    public static final int VIOLATION = 1;
    /**
     * Bad command line or scenario file, or a scenario whose memory estimate exceeds the JVM's
     * limits (one message on stderr, nothing allocated).
     */
    public static final int BAD_INPUT = 2;
    /** No scenario engine is available. */
    public static final int NO_ENGINE = 3;
    /**
     * The engine failed, or tdpmmu itself did (printed with the stack trace); or the JVM ran out of
     * memory despite the estimate (one line, no stack trace). Never 1, which means violations.
     */
    public static final int ENGINE_FAILED = 4;

    private ExitCodes() {
    }
}
