package org.tdpmmu.explore;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

import org.openjdk.jcstress.annotations.Actor;
import org.openjdk.jcstress.annotations.Arbiter;
import org.openjdk.jcstress.annotations.Expect;
import org.openjdk.jcstress.annotations.Outcome;
import org.openjdk.jcstress.infra.results.L_Result;

/**
 * One race in the jcstress catalogue's form, read by reflection so the model checker runs the very
 * same state, actors and arbiter: a {@code @State} class whose constructor builds the tiny VM, its
 * {@code @Actor} methods (one thread each, in name order so a schedule means the same thing on every
 * run) and its {@code @Arbiter}, which fills an {@link L_Result}; the result string is judged by the
 * class's {@code @Outcome}s exactly as jcstress judges it (an id is a regular expression; a
 * catch-all outcome has no id).
 */
final class Race
{
    private final Class<?> type;
    private final Constructor<?> constructor;
    private final Method[] actors;
    private final Method arbiter;
    private final Outcome[] outcomes;

    private Race(final Class<?> type)
    {
        this.type = type;
        try
        {
            this.constructor = type.getDeclaredConstructor();
            constructor.setAccessible(true);
        }
        catch (final NoSuchMethodException ex)
        {
            throw new IllegalArgumentException(type.getName() + ": a race needs a no-argument constructor", ex);
        }
        // A race may be a catalogue race cut down by a subclass (another constructor, so another
        // tiny VM or range): the actors, the arbiter and the outcomes are those of the class that
        // declares them.
        final Class<?> form = form(type);
        final List<Method> found = new ArrayList<>();
        Method judge = null;
        for (final Method m : form.getDeclaredMethods())
        {
            if (m.isAnnotationPresent(Actor.class))
            {
                found.add(m);
            }
            else if (m.isAnnotationPresent(Arbiter.class))
            {
                judge = m;
            }
        }
        found.sort(Comparator.comparing(Method::getName));
        if (found.size() < 2 || found.size() > RaceTwin.MAX_ACTORS)
        {
            throw new IllegalArgumentException(type.getName() + ": " + found.size() + " @Actor methods, allowed 2.." +
                RaceTwin.MAX_ACTORS);
        }
        if (judge == null || judge.getParameterCount() != 1 || judge.getParameterTypes()[0] != L_Result.class)
        {
            throw new IllegalArgumentException(type.getName() + ": needs one @Arbiter method taking an L_Result");
        }
        this.actors = found.toArray(new Method[0]);
        for (final Method m : actors)
        {
            m.setAccessible(true);
        }
        this.arbiter = judge;
        arbiter.setAccessible(true);
        this.outcomes = form.getAnnotationsByType(Outcome.class);
        if (outcomes.length == 0)
        {
            throw new IllegalArgumentException(type.getName() + ": no @Outcome");
        }
    }

    /** {@code type}, or the nearest superclass of it that declares {@code @Actor} methods. */
    private static Class<?> form(final Class<?> type)
    {
        for (Class<?> c = type; c != null; c = c.getSuperclass())
        {
            if (Arrays.stream(c.getDeclaredMethods()).anyMatch(m -> m.isAnnotationPresent(Actor.class)))
            {
                return c;
            }
        }
        return type;
    }

    static Race of(final Class<?> type)
    {
        return new Race(type);
    }

    String name()
    {
        return type.getSimpleName();
    }

    Class<?> type()
    {
        return type;
    }

    int actorCount()
    {
        return actors.length;
    }

    String actorName(final int i)
    {
        return actors[i].getName();
    }

    Object newState()
    {
        try
        {
            return constructor.newInstance();
        }
        catch (final InvocationTargetException ex)
        {
            throw rethrow(ex.getCause());
        }
        catch (final ReflectiveOperationException ex)
        {
            throw new IllegalStateException(ex);
        }
    }

    void runActor(final Object state, final int i)
    {
        invoke(actors[i], state, new Object[0]);
    }

    /**
     * Runs the arbiter and judges its result.
     *
     * @throws ForbiddenOutcome if the result is FORBIDDEN (or matches no outcome at all).
     */
    String judge(final Object state)
    {
        final L_Result r = new L_Result();
        invoke(arbiter, state, new Object[] {r});
        final String result = String.valueOf(r.r1);
        final Outcome outcome = match(result);
        if (outcome == null || outcome.expect() == Expect.FORBIDDEN)
        {
            throw new ForbiddenOutcome(name(), result, outcome == null ? "matches no @Outcome" : outcome.desc());
        }
        return result;
    }

    private Outcome match(final String result)
    {
        Outcome fallback = null;
        for (final Outcome o : outcomes)
        {
            if (o.id().length == 0)
            {
                fallback = o;
                continue;
            }
            if (Arrays.stream(o.id()).anyMatch(result::matches))
            {
                return o;
            }
        }
        return fallback;
    }

    private static void invoke(final Method m, final Object state, final Object[] args)
    {
        try
        {
            m.invoke(state, args);
        }
        catch (final InvocationTargetException ex)
        {
            throw rethrow(ex.getCause());
        }
        catch (final IllegalAccessException ex)
        {
            throw new IllegalStateException(ex);
        }
    }

    private static RuntimeException rethrow(final Throwable t)
    {
        if (t instanceof RuntimeException)
        {
            return (RuntimeException)t;
        }
        if (t instanceof Error)
        {
            throw (Error)t;
        }
        return new IllegalStateException(t);
    }

    /** A FORBIDDEN outcome of one explored schedule: the race's result string and the outcome's desc. */
    static final class ForbiddenOutcome extends AssertionError
    {
        private static final long serialVersionUID = 1L;

        ForbiddenOutcome(final String race, final String result, final String desc)
        {
            super(race + ": FORBIDDEN outcome \"" + result + "\": " + desc);
        }
    }
}
