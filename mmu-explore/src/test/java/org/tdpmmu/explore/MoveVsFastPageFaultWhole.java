package org.tdpmmu.explore;

import org.tdpmmu.stress.MoveVsFastPageFault;

/**
 * The catalogue's {@link MoveVsFastPageFault} (a subclass: same VM, actors, arbiter, outcomes) with
 * {@link LoopsBeforeSwitch}: the move's range zap may walk the slot's table in one stretch, so the
 * window (the fast fault's store between its compare and the zap) is one preemption of the fault
 * rather than one among the forced switches of the zap's 1,024-entry walk. Model checker only.
 */
@LoopsBeforeSwitch(2048)
public class MoveVsFastPageFaultWhole extends MoveVsFastPageFault
{
}
