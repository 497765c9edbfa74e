package org.tdpmmu.scenarios.sim;

import java.util.SplittableRandom;

import org.tdpmmu.scenarios.model.AccessPattern;

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
