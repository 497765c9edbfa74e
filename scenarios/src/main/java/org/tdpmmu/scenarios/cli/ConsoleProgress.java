package org.tdpmmu.scenarios.cli;

import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.tdpmmu.scenarios.engine.ProgressListener;

/**
 * A one-line progress bar on stderr, redrawn in place with {@code \r} five times a second by a
 * daemon thread, for steps that have run longer than one second:
 * {@code step 3/11 dirty-pass-1 [##########          ]  50%  1.4 s, ETA 1.4 s} — the step's place in
 * the run, its share done, the time it has taken and, from its rate so far, the time it still needs;
 * with repeats the run's place is in front ({@code run 2/9 zap_huge}). Steps shorter than a second
 * draw nothing.
 * {@link #advanced} only adds to a counter, so engine threads pay one atomic add.
 */
final class ConsoleProgress implements ProgressListener, AutoCloseable {

    private static final long SHOW_AFTER_NANOS = 1_000_000_000L;
    private static final int BAR = 30;

    private final PrintStream err;
    private final AtomicLong done = new AtomicLong();
    private final ScheduledExecutorService ticker;
    private ScheduledFuture<?> task;
    private String name;
    private long total;
    private long start;
    private boolean drawn;
    private int lastWidth;
    private String runLabel = "";
    private int steps;
    private int step;

    ConsoleProgress(PrintStream err) {
        this.err = err;
        this.ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "tdpmmu-progress");
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * A run of {@code steps} steps starts; {@code label} ({@code run 2/9 zap_huge}, may be empty)
     * goes in front of its steps' bars.
     */
    synchronized void runStarted(String label, int steps) {
        finish();
        this.runLabel = label == null || label.isEmpty() ? "" : label + " ";
        this.steps = steps;
        this.step = 0;
    }

    @Override
    public synchronized void phaseStarted(String name, long totalUnits) {
        finish();
        step++;
        this.name = name;
        this.total = Math.max(0, totalUnits);
        this.start = System.nanoTime();
        this.drawn = false;
        done.set(0);
        task = ticker.scheduleAtFixedRate(this::tick, 200, 200, TimeUnit.MILLISECONDS);
    }

    @Override
    public void advanced(long units) {
        done.addAndGet(units);
    }

    @Override
    public synchronized void phaseEnded() {
        finish();
    }

    private synchronized void tick() {
        if (name == null) {
            return;
        }
        long elapsed = System.nanoTime() - start;
        if (elapsed < SHOW_AFTER_NANOS) {
            return;
        }
        draw(elapsed, false);
    }

    private void draw(long elapsed, boolean complete) {
        long d = complete ? total : Math.min(done.get(), total);
        StringBuilder sb = new StringBuilder("\r").append(runLabel);
        if (steps > 0) {
            sb.append("step ").append(Math.min(step, steps)).append('/').append(steps).append(' ');
        }
        sb.append(name).append(' ');
        if (total > 0) {
            int filled = (int) (BAR * d / total);
            sb.append('[').append("#".repeat(filled)).append(" ".repeat(BAR - filled)).append("] ")
                    .append(String.format(Locale.ROOT, "%3d%%", 100 * d / total));
        } else {
            sb.append(complete ? "done" : "...");
        }
        sb.append(String.format(Locale.ROOT, "  %.1f s", elapsed / 1e9));
        if (!complete && total > 0 && d > 0 && d < total) {
            sb.append(String.format(Locale.ROOT, ", ETA %.1f s", eta(elapsed, d, total) / 1e9));
        }
        int width = sb.length();
        if (width < lastWidth) {
            sb.append(" ".repeat(lastWidth - width));
        }
        lastWidth = width;
        err.print(sb);
        err.flush();
        drawn = true;
    }

    /** The time the rest of a step needs at the rate it went so far: elapsed x (total - done) / done. */
    static long eta(long elapsedNanos, long done, long total) {
        if (done <= 0 || done >= total) {
            return 0;
        }
        return (long) (elapsedNanos * ((double) (total - done) / done));
    }

    private void finish() {
        if (task != null) {
            task.cancel(false);
            task = null;
        }
        if (name != null && drawn) {
            draw(System.nanoTime() - start, true);
            err.println();
        }
        name = null;
        drawn = false;
        lastWidth = 0;
    }

    @Override
    public synchronized void close() {
        finish();
        ticker.shutdownNow();
    }
}
