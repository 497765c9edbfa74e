package org.tdpmmu.explore;

import org.jetbrains.lincheck.datastructures.Operation;

/**
 * The class Lincheck instantiates once per explored schedule: a fresh state of the current
 * {@link Race} (so a fresh tiny VM), one operation per actor thread, and the arbiter as the post
 * part. Lincheck knows nothing of the race: {@link Explorer} sets {@link #race} before it starts
 * and builds the scenario (thread i runs {@code actorI}).
 */
public final class RaceTwin
{
    static final int MAX_ACTORS = 3;

    /** The race being explored; written before Lincheck starts, read by every constructor. */
    static volatile Race race;
    /**
     * States built since the last {@link Explorer#run} began: the schedules explored (plus the
     * replay of a failing one), printed with each exploration's time. Written only by the thread
     * that builds the states, before the actors start.
     */
    static volatile int built;

    private final Race current = race;
    private final Object state = current.newState();

    public RaceTwin()
    {
        built++;
        Explorer.constructed(state);
    }

    @Operation
    public void actor0()
    {
        current.runActor(state, 0);
    }

    @Operation
    public void actor1()
    {
        current.runActor(state, 1);
    }

    @Operation
    public void actor2()
    {
        current.runActor(state, 2);
    }

    /** The post part: the race's arbiter; throws on a FORBIDDEN outcome. */
    @Operation
    public String arbiter()
    {
        return current.judge(state);
    }
}
