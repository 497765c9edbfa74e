package org.tdpmmu.scenarios.report;

import java.awt.Color;
import org.tdpmmu.scenarios.engine.RunResult;
import org.tdpmmu.scenarios.model.RecoveryStrategy;

/**
 * One colour per recovery strategy, the same in every chart of a report. Colours of the Okabe-Ito
 * palette, which stays distinguishable with the common colour-vision deficiencies and in greyscale
 * (vermillion, blue and green differ in lightness too).
 */
public final class StrategyColors {

    /** A run that never disables dirty logging. */
    public static final Color NONE = new Color(0x555555);

    private StrategyColors() {
    }

    public static Color of(RecoveryStrategy s) {
        if (s == null) {
            return NONE;
        }
        return switch (s) {
            case ZAP_LEAFS -> new Color(0xD55E00);
            case ZAP_HUGE -> new Color(0x0072B2);
            case PROMOTE_IN_PLACE -> new Color(0x009E73);
        };
    }

    public static Color of(RunResult run) {
        return of(run.strategy());
    }

    /** {@code #rrggbb}, for the HTML legend. */
    public static String css(Color c) {
        return String.format("#%06x", c.getRGB() & 0xffffff);
    }
}
