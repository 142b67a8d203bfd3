package io.loraserve.deploy;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/** The files under {@code deploy/}, read as YAML documents for tests. */
final class Deploy {
    private Deploy() {
    }

    static Path dir() {
        return Path.of("deploy").toAbsolutePath();
    }

    /** Every YAML document of every {@code .yaml}/{@code .yml} file under {@code deploy/sub}. */
    static List<Map<String, Object>> documents(String sub) {
        List<Map<String, Object>> docs = new ArrayList<>();
        try (Stream<Path> files = Files.walk(dir().resolve(sub))) {
            for (Path f : files.filter(p -> p.toString().matches(".*\\.ya?ml$")).sorted().toList()) {
                docs.addAll(load(f));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return docs;
    }

    /** The YAML documents of one file; fails on a syntax error or a document that is not a mapping. */
    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> load(Path file) {
        List<Map<String, Object>> docs = new ArrayList<>();
        try {
            for (Object doc : new Yaml(new SafeConstructor(new LoaderOptions())).loadAll(Files.readString(file))) {
                if (doc == null) {
                    continue;
                }
                if (!(doc instanceof Map)) {
                    throw new AssertionError(file + ": a document is not a mapping: " + doc);
                }
                docs.add((Map<String, Object>) doc);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return docs;
    }

    /** {@code node} at {@code path} (keys, or list indexes as numbers); fails with the path when absent. */
    @SuppressWarnings("unchecked")
    static <T> T at(Object node, Object... path) {
        Object cur = node;
        StringBuilder where = new StringBuilder();
        for (Object key : path) {
            where.append('/').append(key);
            if (key instanceof Integer i && cur instanceof List<?> l && i < l.size()) {
                cur = l.get(i);
            } else if (cur instanceof Map<?, ?> m && m.containsKey(key)) {
                cur = m.get(key);
            } else {
                throw new AssertionError("no " + where + " in " + node);
            }
        }
        return (T) cur;
    }
}
