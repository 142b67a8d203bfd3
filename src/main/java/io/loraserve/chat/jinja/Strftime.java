package io.loraserve.chat.jinja;

import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.Locale;

/**
 * Python's {@code datetime.strftime} in the C locale, for templates' {@code strftime_now}
 * ({@code "%d %b %Y"} → {@code "26 Jul 2025"}): the directives {@code %Y %y %m %d %e %j %H %I %M
 * %S %p %b %h %B %a %A %w %u %F %T %%}, and {@code %-x} without padding. Any other directive is
 * refused rather than guessed (the chat template's 500 names it).
 */
final class Strftime {
    private Strftime() {
    }

    static String format(String pattern, ZonedDateTime t) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < pattern.length(); i++) {
            char c = pattern.charAt(i);
            if (c != '%' || i + 1 == pattern.length()) {
                out.append(c);
                continue;
            }
            char d = pattern.charAt(++i);
            boolean unpadded = d == '-' && i + 1 < pattern.length();
            if (unpadded) {
                d = pattern.charAt(++i);
            }
            out.append(switch (d) {
                case 'Y' -> String.valueOf(t.getYear());
                case 'y' -> pad(t.getYear() % 100, 2, unpadded);
                case 'm' -> pad(t.getMonthValue(), 2, unpadded);
                case 'd' -> pad(t.getDayOfMonth(), 2, unpadded);
                case 'e' -> String.format("%2d", t.getDayOfMonth());
                case 'j' -> pad(t.getDayOfYear(), 3, unpadded);
                case 'H' -> pad(t.getHour(), 2, unpadded);
                case 'I' -> pad((t.getHour() + 11) % 12 + 1, 2, unpadded);
                case 'M' -> pad(t.getMinute(), 2, unpadded);
                case 'S' -> pad(t.getSecond(), 2, unpadded);
                case 'p' -> t.getHour() < 12 ? "AM" : "PM";
                case 'b', 'h' -> t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
                case 'B' -> t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
                case 'a' -> t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
                case 'A' -> t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
                case 'w' -> String.valueOf(t.getDayOfWeek().getValue() % 7);
                case 'u' -> String.valueOf(t.getDayOfWeek().getValue());
                case 'F' -> format("%Y-%m-%d", t);
                case 'T' -> format("%H:%M:%S", t);
                case '%' -> "%";
                default -> throw new IllegalArgumentException("strftime_now: unsupported directive %" + d);
            });
        }
        return out.toString();
    }

    private static String pad(int value, int width, boolean unpadded) {
        return unpadded ? String.valueOf(value) : String.format("%0" + width + "d", value);
    }
}
