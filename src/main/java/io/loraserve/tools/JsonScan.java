package io.loraserve.tools;

/** Finds where one JSON object or array written in text ends, so several can follow each other. */
final class JsonScan {
    private JsonScan() {
    }

    /**
     * The index after the object or array that starts at {@code from}, or -1 when it does not
     * start there or is not closed. Brackets inside strings (with their escapes) do not count.
     */
    static int valueEnd(String s, int from) {
        if (from >= s.length() || (s.charAt(from) != '{' && s.charAt(from) != '[')) {
            return -1;
        }
        int depth = 0;
        boolean inString = false;
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (inString) {
                if (c == '\\') {
                    i++;
                } else if (c == '"') {
                    inString = false;
                }
            } else if (c == '"') {
                inString = true;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if ((c == '}' || c == ']') && --depth == 0) {
                return i + 1;
            }
        }
        return -1;
    }
}
