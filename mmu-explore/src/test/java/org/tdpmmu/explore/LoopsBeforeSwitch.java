package org.tdpmmu.explore;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * On a race class: how many iterations of one loop Lincheck lets a thread run before it takes the
 * loop for a spin and switches thread ({@code loopIterationsBeforeThreadSwitch}, default 10).
 * With the default a thread never runs a whole 512-entry table walk (handle_removed_pt's freeze
 * loop, an aging walk) in one stretch: it is switched out every ten entries, so a window that needs
 * one thread paused while another removes and frees a table whole is never explored. A race whose
 * window is of that kind sets a bound above its longest loop. Real spin waits (a frozen SPTE, a
 * lock) are then recognised that much later, which costs time per schedule, not correctness.
 * {@code -Dexplore.loopSwitch=N} overrides it for every race.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
@interface LoopsBeforeSwitch
{
    int value();
}
