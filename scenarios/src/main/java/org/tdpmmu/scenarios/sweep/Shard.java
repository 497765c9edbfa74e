package org.tdpmmu.scenarios.sweep;

import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.tdpmmu.scenarios.model.ScenarioException;

/**
 * This process's share of a sweep: shard {@code index} of {@code count} runs the points whose index
 * is {@code index} modulo {@code count}. Round robin rather than blocks, because the grid's last keys
 * vary fastest: blocks would give one shard every big VM.
 *
 * <p>{@code --shard auto} reads the index the job engine gives each task:
 * <ul>
 * <li>Kubernetes Indexed Job: {@code JOB_COMPLETION_INDEX} (0-based); the Job's {@code completions}
 *     is not in the pod's environment, so it comes from {@code --shard-count} or
 *     {@code TDPMMU_SHARD_COUNT} (the manifest sets it to the same number);</li>
 * <li>Slurm job array: {@code SLURM_ARRAY_TASK_ID}, counted from {@code SLURM_ARRAY_TASK_MIN} in steps
 *     of {@code SLURM_ARRAY_TASK_STEP} (default 1); the count is {@code SLURM_ARRAY_TASK_COUNT}, else
 *     from {@code SLURM_ARRAY_TASK_MAX}. An array with gaps ({@code --array=1,4,9}) has no dense
 *     index: give it {@code --array=0-(N-1)}.</li>
 * </ul>
 *
 * @param index 0-based, below {@code count}
 * @param count at least 1
 */
public record Shard(int index, int count) {

    public static final Shard ALL = new Shard(0, 1);
    /** The environment variable for the shard count of a Kubernetes Indexed Job. */
    public static final String COUNT_ENV = "TDPMMU_SHARD_COUNT";

    private static final Pattern FRACTION = Pattern.compile("(\\d+)/(\\d+)");
    private static final String LABEL = "--shard";

    public Shard {
        if (count < 1 || index < 0 || index >= count) {
            throw new IllegalArgumentException("shard " + index + "/" + count);
        }
    }

    /** Whether point {@code pointIndex} is this shard's. */
    public boolean owns(int pointIndex) {
        return pointIndex % count == index;
    }

    /**
     * {@code I/N} or {@code auto}.
     *
     * @param countFlag {@code --shard-count}, or null
     * @param env       the environment ({@link System#getenv()})
     */
    public static Shard parse(String text, Integer countFlag, Map<String, String> env) {
        if (text == null) {
            if (countFlag != null) {
                throw new ScenarioException("--shard-count", 0, null, "only with --shard auto");
            }
            return ALL;
        }
        if (text.equals("auto")) {
            return auto(countFlag, env);
        }
        if (countFlag != null) {
            throw new ScenarioException("--shard-count", 0, null, "only with --shard auto (--shard I/N gives the count)");
        }
        Matcher m = FRACTION.matcher(text.strip());
        if (!m.matches()) {
            throw new ScenarioException(LABEL, 0, null, "\"" + text + "\" is not I/N (0-based index I of N shards, e.g. 0/4) nor auto");
        }
        return checked(number(m.group(1), LABEL), number(m.group(2), LABEL), LABEL + " " + text);
    }

    private static Shard auto(Integer countFlag, Map<String, String> env) {
        String k8s = env.get("JOB_COMPLETION_INDEX");
        if (k8s != null) {
            long count;
            String from;
            if (countFlag != null) {
                count = countFlag;
                from = "--shard-count";
            } else if (env.get(COUNT_ENV) != null) {
                count = number(env.get(COUNT_ENV), COUNT_ENV);
                from = COUNT_ENV;
            } else {
                throw new ScenarioException(LABEL + " auto", 0, null, "JOB_COMPLETION_INDEX=" + k8s + " is set (a Kubernetes "
                        + "Indexed Job) but not the number of shards: give --shard-count N or " + COUNT_ENV
                        + "=N, N the Job's completions");
            }
            return checked(number(k8s, "JOB_COMPLETION_INDEX"), count, "JOB_COMPLETION_INDEX=" + k8s + " with " + from
                    + "=" + count);
        }
        String id = env.get("SLURM_ARRAY_TASK_ID");
        if (id != null) {
            long task = number(id, "SLURM_ARRAY_TASK_ID");
            long min = env.get("SLURM_ARRAY_TASK_MIN") == null ? 0 : number(env.get("SLURM_ARRAY_TASK_MIN"), "SLURM_ARRAY_TASK_MIN");
            long step = env.get("SLURM_ARRAY_TASK_STEP") == null ? 1 : number(env.get("SLURM_ARRAY_TASK_STEP"), "SLURM_ARRAY_TASK_STEP");
            long count;
            if (countFlag != null) {
                count = countFlag;
            } else if (env.get("SLURM_ARRAY_TASK_COUNT") != null) {
                count = number(env.get("SLURM_ARRAY_TASK_COUNT"), "SLURM_ARRAY_TASK_COUNT");
            } else if (env.get("SLURM_ARRAY_TASK_MAX") != null && step > 0) {
                count = (number(env.get("SLURM_ARRAY_TASK_MAX"), "SLURM_ARRAY_TASK_MAX") - min) / step + 1;
            } else {
                throw new ScenarioException(LABEL + " auto", 0, null, "SLURM_ARRAY_TASK_ID=" + id + " is set but neither "
                        + "SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX: give --shard-count N");
            }
            String what = "SLURM_ARRAY_TASK_ID=" + id + " (array from " + min + " in steps of " + step + ", " + count + " tasks)";
            if (step < 1 || task < min || (task - min) % step != 0) {
                throw new ScenarioException(LABEL + " auto", 0, null, what + " has no 0-based index; use --array=0-" + (count - 1));
            }
            return checked((task - min) / step, count, what);
        }
        throw new ScenarioException(LABEL + " auto", 0, null, "neither JOB_COMPLETION_INDEX (Kubernetes Indexed Job) nor "
                + "SLURM_ARRAY_TASK_ID (Slurm job array) is set; give --shard I/N");
    }

    private static Shard checked(long index, long count, String what) {
        if (count < 1 || count > Grid.MAX_POINTS) {
            throw new ScenarioException(LABEL, 0, null, what + ": the number of shards must be 1.." + Grid.MAX_POINTS);
        }
        if (index < 0 || index >= count) {
            throw new ScenarioException(LABEL, 0, null, what + ": index " + index + " is out of range 0.." + (count - 1));
        }
        return new Shard((int) index, (int) count);
    }

    private static long number(String text, String what) {
        try {
            return Long.parseLong(text.strip());
        } catch (NumberFormatException e) {
            throw new ScenarioException(what, 0, null, "\"" + text + "\" is not an integer");
        }
    }

    @Override
    public String toString() {
        return index + "/" + count;
    }
}
