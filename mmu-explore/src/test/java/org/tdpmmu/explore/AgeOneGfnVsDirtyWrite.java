package org.tdpmmu.explore;

import org.tdpmmu.stress.AgeVsDirtyWrite;

/**
 * The catalogue's {@link AgeVsDirtyWrite} cut down for the model checker: the same VM, actors,
 * arbiter and outcomes, but the lockless ager (6.15) ages only the written gfn instead of the whole
 * slot. The window of a non-atomic clear of A is the ager's step between its read of the leaf and
 * its store: over 1,024 gfns two positions among a thousand, here among a few dozen, so the
 * single-preemption schedules that open it come first. Model checker only.
 */
public class AgeOneGfnVsDirtyWrite extends AgeVsDirtyWrite
{
    public AgeOneGfnVsDirtyWrite()
    {
        super(GFN, GFN + 1);
    }
}
