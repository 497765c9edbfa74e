package org.tdpmmu.scenarios.model;

/** What an engine does for one {@link Step}. */
public enum StepKind {
    POPULATE("populate"),
    ENABLE_DIRTY_LOGGING("enableDirtyLogging"),
    DIRTY_PASS("dirtyPass"),
    /** KVM_GET_DIRTY_LOG (also re-protecting when the harvest method is get). */
    GET_DIRTY_LOG("harvest"),
    /** KVM_CLEAR_DIRTY_LOG over the bits the preceding get returned. */
    CLEAR_DIRTY_LOG("harvest"),
    /** The VMM collects every vCPU's dirty ring (entries marked RESET). */
    COLLECT_DIRTY_RING("harvest"),
    /** KVM_RESET_DIRTY_RINGS: the collected entries recycled, their pages re-protected. */
    RESET_DIRTY_RINGS("harvest"),
    DISABLE_DIRTY_LOGGING("disableDirtyLogging"),
    SECOND_PASS("secondPass"),
    /** The host ages every slot (mmu_notifier clear_young / clear_flush_young). */
    AGE("age"),
    /** KVM_SET_USER_MEMORY_REGION requests while the vCPUs make passes. */
    MEMSLOT_CHANGE("memslotChange"),
    TEARDOWN("teardown");

    private final String phaseYamlName;

    StepKind(String phaseYamlName) {
        this.phaseYamlName = phaseYamlName;
    }

    /** The phase key this kind of step comes from (both harvest kinds: {@code harvest}). */
    public String phaseYamlName() {
        return phaseYamlName;
    }
}
