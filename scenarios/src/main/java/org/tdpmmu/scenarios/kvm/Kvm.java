package org.tdpmmu.scenarios.kvm;

import com.sun.jna.LastErrorException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * /dev/kvm itself: opening it, the capabilities kvm-check needs, and what kind of KVM the host runs
 * (vendor module, TDP MMU or shadow paging, kernel release), so that no figure taken on a
 * shadow-paging host passes for a TDP MMU one.
 */
public final class Kvm {
    /** The device; the system property {@code tdpmmu.kvm.device} names another (tests use a missing one). */
    static String device() {
        return System.getProperty("tdpmmu.kvm.device", "/dev/kvm");
    }
    private static final Path MODULES = Path.of("/sys/module");

    private Kvm() {
    }

    /** Opens /dev/kvm and checks the API version, or says in one line why it cannot. */
    static int open() throws KvmUnavailableException {
        final String device = device();
        if (!Files.exists(Path.of(device))) {
            throw new KvmUnavailableException(device + " does not exist (no KVM on this host)");
        }
        final int fd;
        try {
            fd = LibC.C.open(device, LibC.O_RDWR | LibC.O_CLOEXEC);
        } catch (LastErrorException e) {
            throw new KvmUnavailableException(device + " cannot be opened: " + describe(e));
        } catch (UnsatisfiedLinkError e) {
            throw new KvmUnavailableException("libc cannot be loaded through JNA: " + e.getMessage());
        }
        try {
            final int version = LibC.C.ioctl(fd, KvmApi.GET_API_VERSION, 0L);
            if (version != 12) {
                throw new KvmUnavailableException(device + " speaks KVM API version " + version + ", not 12");
            }
        } catch (LastErrorException e) {
            KvmVm.closeQuietly(fd);
            throw new KvmUnavailableException(device + " refused KVM_GET_API_VERSION: " + describe(e));
        }
        return fd;
    }

    /** Throws with the reason when /dev/kvm cannot be used; for callers that must skip. */
    public static void require() throws KvmUnavailableException {
        KvmVm.closeQuietly(open());
    }

    /** KVM_CHECK_EXTENSION on /dev/kvm, 0 when not supported. */
    static int capability(int cap) throws KvmUnavailableException {
        final int fd = open();
        try {
            return LibC.C.ioctl(fd, KvmApi.CHECK_EXTENSION, cap);
        } catch (LastErrorException e) {
            return 0;
        } finally {
            KvmVm.closeQuietly(fd);
        }
    }

    /**
     * Largest dirty ring in bytes per vCPU, 0 without the dirty ring. The system property
     * {@code tdpmmu.kvm.hideDirtyRing} makes it 0, so the skip is tested on hosts that have a ring.
     */
    public static long dirtyRingMaxBytes() throws KvmUnavailableException {
        if (Boolean.getBoolean("tdpmmu.kvm.hideDirtyRing")) {
            return 0;
        }
        return Math.max(capability(KvmApi.CAP_DIRTY_LOG_RING_ACQ_REL), capability(KvmApi.CAP_DIRTY_LOG_RING));
    }

    static String describe(LastErrorException e) {
        final int errno = e.getErrorCode();
        switch (errno) {
            case 1:
                return "EPERM (operation not permitted)";
            case 2:
                return "ENOENT (no such file)";
            case 13:
                return "EACCES (permission denied: is the user in the kvm group?)";
            case 16:
                return "EBUSY (device busy)";
            case 19:
                return "ENODEV (no such device)";
            case 22:
                return "EINVAL (invalid argument)";
            case 25:
                return "ENOTTY (not supported by this KVM)";
            default:
                return "errno " + errno;
        }
    }

    /**
     * What the host's KVM is, in a few named fields: {@code module} (kvm_intel, kvm_amd, kvm_pvm,
     * ...), {@code tdp_mmu} (Y/N, or "absent" on kernels without the parameter),
     * {@code eager_page_split}, {@code kernel} (the release, as uname -r), {@code mmu} (a plain
     * statement: "TDP MMU" or "shadow paging (not the TDP MMU)").
     */
    public static Map<String, String> host() {
        final Map<String, String> m = new LinkedHashMap<>();
        final StringBuilder modules = new StringBuilder();
        for (String mod : new String[] {"kvm_intel", "kvm_amd", "kvm_pvm"}) {
            if (Files.isDirectory(MODULES.resolve(mod))) {
                modules.append(modules.length() == 0 ? "" : "+").append(mod);
            }
        }
        m.put("module", modules.length() == 0 ? "kvm (no vendor module found)" : "kvm+" + modules);
        final String tdp = param("tdp_mmu");
        m.put("tdp_mmu", tdp);
        m.put("eager_page_split", param("eager_page_split"));
        m.put("kernel", read(Path.of("/proc/sys/kernel/osrelease")));
        m.put("mmu", "Y".equals(tdp) ? "TDP MMU" : "shadow paging (not the TDP MMU)");
        return m;
    }

    /** The host line printed above every kvm-check and side-by-side output. */
    public static String hostLine() {
        final Map<String, String> h = host();
        return "host KVM: " + h.get("module") + ", tdp_mmu=" + h.get("tdp_mmu") + " (" + h.get("mmu") + ")"
                + ", eager_page_split=" + h.get("eager_page_split") + ", kernel " + h.get("kernel");
    }

    private static String param(String name) {
        return read(MODULES.resolve("kvm").resolve("parameters").resolve(name));
    }

    private static String read(Path p) {
        try {
            return Files.readString(p).trim();
        } catch (IOException e) {
            return "absent";
        }
    }
}
