package org.tdpmmu.explore;

import java.util.List;

import org.jetbrains.kotlinx.lincheck.execution.ExecutionResult;
import org.jetbrains.kotlinx.lincheck.execution.ExecutionScenario;
import org.jetbrains.kotlinx.lincheck.execution.ResultWithClock;
import org.jetbrains.kotlinx.lincheck.util.ExceptionResult;
import org.jetbrains.kotlinx.lincheck.util.LincheckResult;
import org.jetbrains.lincheck.datastructures.verifier.Verifier;

/**
 * A schedule passes when no actor and not the arbiter threw: the arbiter is the race's
 * specification (it throws on a FORBIDDEN outcome), so there is no sequential model to compare with.
 */
public final class ArbiterVerifier implements Verifier
{
    public ArbiterVerifier()
    {
    }

    /** Lincheck creates verifiers with the sequential specification class; there is none here. */
    public ArbiterVerifier(final Class<?> sequentialSpecification)
    {
    }

    @Override
    public boolean verifyResults(final ExecutionScenario scenario, final ExecutionResult result)
    {
        for (final List<ResultWithClock> thread : result.getParallelResultsWithClock())
        {
            for (final ResultWithClock r : thread)
            {
                if (r.getResult() instanceof ExceptionResult)
                {
                    return false;
                }
            }
        }
        return clean(result.getInitResults()) && clean(result.getPostResults());
    }

    private static boolean clean(final List<LincheckResult> results)
    {
        for (final LincheckResult r : results)
        {
            if (r instanceof ExceptionResult)
            {
                return false;
            }
        }
        return true;
    }
}
