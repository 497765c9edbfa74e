package org.tdpmmu.scenarios.kvm;

/** /dev/kvm is missing, cannot be opened, or refuses what a check needs; the message says which, in one line. */
public final class KvmUnavailableException extends Exception {
    private static final long serialVersionUID = 1L;

    public KvmUnavailableException(String message) {
        super(message);
    }
}
