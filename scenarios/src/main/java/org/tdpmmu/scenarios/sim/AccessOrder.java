package org.tdpmmu.scenarios.sim;

import java.util.SplittableRandom;

import org.tdpmmu.scenarios.model.AccessPattern;
import org.tdpmmu.scenarios.model.Phase;
import org.tdpmmu.scenarios.model.Step;

/**
 * The order in which a vCPU touches the pages of its region in one pass (memstress: sequential, or
 * a random page per access with -a); zipf draws pages from a power law over the region, with the
 * continuous inverse-CDF approximation (density ∝ x^-s on [1, n]), rank 1 being the first page.
 */
final class AccessOrder
{
    private final AccessPattern pattern;
    private final long pages;
    private final double exponent;
    private final SplittableRandom random;

    AccessOrder(final AccessPattern pattern, final long pages, final double exponent, final long seed)
    {
        this.pattern = pattern;
        this.pages = pages;
        this.exponent = exponent;
        this.random = new SplittableRandom(seed);
    }

    /**
     * The order of vCPU {@code vcpu}'s pass in {@code step} (populate, a dirty pass or the second
     * pass) over {@code pages} pages, or null for a step without vCPU accesses. One definition for
     * the scenario engine and kvm-check, so both replay the same accesses.
     */
    static AccessOrder forStep(final Step step, final int vcpu, final long pages)
    {
        switch (step.kind())
        {
            case POPULATE:
                return new AccessOrder(AccessPattern.SEQUENTIAL, pages, 0, 0);
            case DIRTY_PASS:
            {
                final Phase.DirtyPass d = (Phase.DirtyPass)step.phase();
                return new AccessOrder(d.pattern(), pages, d.zipfExponent(), seed(d.seed(), vcpu, step.index()));
            }
            case SECOND_PASS:
            {
                final Phase.SecondPass s = (Phase.SecondPass)step.phase();
                return new AccessOrder(s.pattern(), pages, s.zipfExponent(), seed(s.seed(), vcpu, 1_000_000));
            }
            default:
                return null;
        }
    }

    /** The chance in percent that an access of {@code step}'s pass is a write (populate: 100). */
    static int writePercent(final Step step)
    {
        switch (step.kind())
        {
            case DIRTY_PASS:
                return ((Phase.DirtyPass)step.phase()).writePercent();
            case SECOND_PASS:
                return ((Phase.SecondPass)step.phase()).writePercent();
            default:
                return 100;
        }
    }

    /** The per-vCPU random stream of a pass: base seed, vCPU and pass mixed. */
    static long seed(final long base, final int vcpu, final int pass)
    {
        return base * 0x9E3779B97F4A7C15L + vcpu * 0xBF58476D1CE4E5B9L + pass;
    }

    /** Page offset of the {@code i}-th access of a pass. */
    long next(final long i)
    {
        switch (pattern)
        {
            case SEQUENTIAL:
                return i;
            case RANDOM:
                return random.nextLong(pages);
            default:
                return zipf();
        }
    }

    boolean coin(final int percent)
    {
        return percent >= 100 || (percent > 0 && random.nextInt(100) < percent);
    }

    private long zipf()
    {
        final double u = random.nextDouble();
        final double x;
        if (Math.abs(exponent - 1.0) < 1e-9)
        {
            x = Math.pow(pages, u);
        }
        else
        {
            final double a = 1.0 - exponent;
            x = Math.pow((Math.pow(pages, a) - 1.0) * u + 1.0, 1.0 / a);
        }
        final long rank = (long)x - 1;
        return Math.min(Math.max(rank, 0), pages - 1);
    }
}
