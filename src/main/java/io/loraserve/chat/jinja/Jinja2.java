package io.loraserve.chat.jinja;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.el.TruthyTypeConverter;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import java.io.IOException;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jinjava.de.odysseus.el.ExpressionFactoryImpl;
import jinjava.de.odysseus.el.tree.TreeBuilder;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ExpressionFactory;

/**
 * A Jinjava that renders as Python Jinja2 3.1 does in the environment transformers builds for
 * {@code apply_chat_template}: {@code trim_blocks}, {@code lstrip_blocks}, loop controls,
 * Jinja2's operator precedence and slicing ({@link Jinja2Parser}), loop filters
 * ({@link FilteredForTag}), Python's {@code str} methods ({@link PythonStrings}), HF's
 * {@code tojson} ({@link ToJsonFilter}), and the globals {@code raise_exception(message)} and
 * {@code strftime_now(format)}. {@code include} and {@code import} find nothing (a template
 * could otherwise read the server's class path). Thread-safe once built.
 */
public final class Jinja2 extends Jinjava {
    /** Where the render context keeps strftime_now's clock. */
    private static final String CLOCK = "__loraserve_clock__";
    private static final Pattern LSTRIP = Pattern.compile("(?m)^[ \\t]+(?=\\{[%#](?!\\+))");
    private static final Pattern CODE = Pattern.compile("\\{\\{.*?}}|\\{%.*?%}", Pattern.DOTALL);
    /** A quoted string literal, unrolled and possessive so long literals cannot overflow the regex stack. */
    private static final Pattern STRING = Pattern.compile("'[^'\\\\]*+(?:\\\\.[^'\\\\]*+)*+'|\"[^\"\\\\]*+(?:\\\\.[^\"\\\\]*+)*+\"");
    private static final Pattern FILTER = Pattern.compile("\\|\\s*([A-Za-z_][A-Za-z_0-9]*)");
    private static final Pattern TEST = Pattern.compile("\\bis\\s+(?:not\\s+)?([A-Za-z_][A-Za-z_0-9]*)");
    private final ExpressionFactory expressions;

    /**
     * {@code clock} is {@code strftime_now}'s "now", in its zone.
     */
    public Jinja2(long maxOutputChars, Clock clock) {
        super(JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(false) // Jinjava strips mid-line too; see lstripBlocks
                .withKeepTrailingNewline(true)
                .withNestedInterpretationEnabled(false)
                .withFailOnUnknownTokens(false)
                .withMaxOutputSize(maxOutputChars)
                .withElResolver(new CompositeELResolver() {
                    {
                        add(new PythonStrings());
                        add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
                    }
                })
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withEvaluateMapKeys(true)
                        .withIterateOverMapKeys(true)
                        .withUsePyishObjectMapper(true)
                        .withUseNaturalOperatorPrecedence(true)
                        .withParseWhitespaceControlStrictly(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withKeepNullableLoopValues(true)
                        .withHandleBackslashInQuotesOnly(true)
                        .build())
                .build());
        Properties properties = new Properties();
        properties.setProperty(TreeBuilder.class.getName(), Jinja2Parser.Builder.class.getName());
        this.expressions = new ExpressionFactoryImpl(properties, new TruthyTypeConverter());
        getGlobalContext().registerTag(new FilteredForTag());
        getGlobalContext().registerFilter(new ToJsonFilter());
        getGlobalContext().registerFilter(new ItemsFilter());
        for (String name : List.of("length", "count")) {
            getGlobalContext().registerFilter(new LengthFilter(name, getGlobalContext().getFilter(name)));
        }
        getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception", Jinja2.class,
                "raiseException", String.class));
        getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now", Jinja2.class,
                "strftimeNow", String.class));
        // Functions are no variables to Jinjava: these make `raise_exception is defined` hold, as in Jinja2.
        getGlobalContext().put("raise_exception", "<function raise_exception>");
        getGlobalContext().put("strftime_now", "<function strftime_now>");
        getGlobalContext().put(CLOCK, clock);
        setResourceLocator((name, encoding, interpreter) -> {
            throw new IOException("a chat template cannot include or import '" + name + "'");
        });
    }

    /**
     * Jinja2's {@code lstrip_blocks}: the spaces and tabs from the start of a line to a block or
     * comment tag are dropped, unless the tag opens with {@code +}. Jinjava's own option also
     * strips whitespace before a tag in mid-line ({@code {% endif %} {% if %}} lost its space).
     */
    public static String lstripBlocks(String source) {
        return LSTRIP.matcher(source).replaceAll("");
    }

    /**
     * The filters and tests {@code source} names that this Jinjava does not know. Jinja2 refuses
     * such a template when it compiles it; Jinjava would render the expression as nothing.
     */
    public List<String> unknownFiltersAndTests(String source) {
        Set<String> unknown = new TreeSet<>();
        Matcher code = CODE.matcher(source);
        while (code.find()) {
            String expression = STRING.matcher(code.group()).replaceAll("''");
            for (Matcher m = FILTER.matcher(expression); m.find(); ) {
                if (getGlobalContext().getFilter(m.group(1)) == null) {
                    unknown.add("filter '" + m.group(1) + "'");
                }
            }
            for (Matcher m = TEST.matcher(expression); m.find(); ) {
                if (getGlobalContext().getExpTest(m.group(1)) == null) {
                    unknown.add("test '" + m.group(1) + "'");
                }
            }
        }
        return List.copyOf(unknown);
    }

    @Override
    public ExpressionFactory getExpressionFactory() {
        return expressions;
    }

    /** Thrown by a template's {@code raise_exception(message)}; its message is the template's. */
    public static final class Raised extends RuntimeException {
        Raised(String message) {
            super(message);
        }
    }

    public static String raiseException(String message) {
        throw new Raised(message);
    }

    public static String strftimeNow(String format) {
        Clock clock = (Clock) JinjavaInterpreter.getCurrent().getContext().get(CLOCK);
        return Strftime.format(format, ZonedDateTime.now(clock));
    }
}
