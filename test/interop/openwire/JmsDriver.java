import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Timer;
import java.util.TimerTask;
import javax.jms.Connection;
import javax.jms.DeliveryMode;
import javax.jms.Destination;
import javax.jms.JMSException;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.MessageProducer;
import javax.jms.Session;
import org.apache.activemq.ActiveMQConnectionFactory;
import org.apache.activemq.ActiveMQSession;

/**
 * ActiveMQ's own JMS client doing what JMS applications do, one scenario per command, for the
 * interop tests. Usage: JmsDriver COMMAND --url URL [--name value ...]. Every result is a JSON line
 * on stdout; a failure prints {"event":"error",...} and exits non-zero. Nothing is judged here that
 * the test can judge itself: the driver prints what it received and the test compares.
 */
public final class JmsDriver {
  final Map<String, String> opts;
  final String url;
  /** How long to wait for a message that should come. */
  final long timeout;
  /** How long to wait before concluding that no message is coming. */
  final long quiet;

  JmsDriver(Map<String, String> opts) {
    this.opts = opts;
    this.url = required("url");
    this.timeout = Long.parseLong(opts.getOrDefault("timeout", "10000"));
    this.quiet = Long.parseLong(opts.getOrDefault("quiet", "1000"));
  }

  public static void main(String[] args) {
    if (args.length == 0) fail(new IllegalArgumentException("usage: JmsDriver COMMAND --url URL [--name value ...]"));
    Map<String, String> opts = new HashMap<>();
    for (int i = 1; i < args.length; i += 2) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) fail(new IllegalArgumentException("expected --name value at " + args[i]));
      opts.put(args[i].substring(2), args[i + 1]);
    }
    // a broker that stops answering must fail the test, not hang it
    long deadline = Long.parseLong(opts.getOrDefault("deadline", "60000"));
    Timer watchdog = new Timer("watchdog", true);
    watchdog.schedule(new TimerTask() {
      @Override
      public void run() {
        emit("event", "error", "class", "Timeout", "message", args[0] + " did not finish within " + deadline + " ms");
        Runtime.getRuntime().halt(3);
      }
    }, deadline);
    try {
      JmsDriver driver = new JmsDriver(opts);
      Scenarios scenarios = new Scenarios(driver);
      scenarios.run(args[0]);
      emit("event", "done", "command", args[0]);
      System.out.flush();
      System.exit(0);
    } catch (Throwable err) {
      fail(err);
    }
  }

  static void fail(Throwable err) {
    Map<String, Object> line = new LinkedHashMap<>();
    line.put("event", "error");
    line.put("class", err.getClass().getName());
    line.put("message", err.getMessage());
    Throwable cause = err.getCause();
    if (cause != null) line.put("cause", cause.getClass().getName() + ": " + cause.getMessage());
    System.out.println(Json.of(line));
    System.out.flush();
    System.exit(1);
  }

  /** One JSON line from alternating names and values. */
  static void emit(Object... pairs) {
    Map<String, Object> line = new LinkedHashMap<>();
    for (int i = 0; i + 1 < pairs.length; i += 2) line.put((String) pairs[i], pairs[i + 1]);
    synchronized (System.out) {
      System.out.println(Json.of(line));
      System.out.flush();
    }
  }

  String required(String name) {
    String value = opts.get(name);
    if (value == null) throw new IllegalArgumentException("missing --" + name);
    return value;
  }

  String opt(String name, String fallback) {
    return opts.getOrDefault(name, fallback);
  }

  int count() {
    return Integer.parseInt(opt("count", "5"));
  }

  /** The URL with client options added (`jms.prefetchPolicy.all=0`), whatever form it has. */
  static String withOptions(String url, String options) {
    if (options == null || options.isEmpty()) return url;
    return url + (url.contains("?") ? "&" : "?") + options;
  }

  ActiveMQConnectionFactory factory(String options) {
    ActiveMQConnectionFactory f = new ActiveMQConnectionFactory(withOptions(url, options));
    configure(f);
    return f;
  }

  void configure(ActiveMQConnectionFactory f) {
    if (opts.containsKey("user")) f.setUserName(opts.get("user"));
    if (opts.containsKey("password")) f.setPassword(opts.get("password"));
    // ObjectMessage bodies are deserialized only from trusted packages; the payload class has none
    f.setTrustedPackages(Arrays.asList("", "java.lang", "java.util"));
  }

  /** A JMS 1.1 connection that try-with-resources closes (JMS 1.1 predates AutoCloseable). */
  interface Conn extends Connection, AutoCloseable {
    @Override
    void close() throws JMSException;
  }

  /** A started connection; `options` are extra client URL options, `clientId` may be null. */
  Conn connect(String options, String clientId) throws JMSException {
    Connection c = factory(options).createConnection();
    if (clientId != null) c.setClientID(clientId);
    c.start();
    return (Conn) Proxy.newProxyInstance(Conn.class.getClassLoader(), new Class<?>[] {Conn.class}, (proxy, method, args) -> {
      try {
        // close() is declared again by Conn; every call goes to the Connection method of that name
        Method target = method.getDeclaringClass() == Conn.class ? Connection.class.getMethod(method.getName(), method.getParameterTypes()) : method;
        return target.invoke(c, args);
      } catch (InvocationTargetException err) {
        throw err.getCause();
      }
    });
  }

  Conn connect() throws JMSException {
    return connect(opt("options", ""), null);
  }

  static Session session(Connection c, int ackMode) throws JMSException {
    return c.createSession(ackMode == Session.SESSION_TRANSACTED, ackMode);
  }

  static int ackMode(String name) {
    switch (name) {
      case "auto": return Session.AUTO_ACKNOWLEDGE;
      case "client": return Session.CLIENT_ACKNOWLEDGE;
      case "dups": return Session.DUPS_OK_ACKNOWLEDGE;
      case "individual": return ActiveMQSession.INDIVIDUAL_ACKNOWLEDGE;
      case "transacted": return Session.SESSION_TRANSACTED;
      default: throw new IllegalArgumentException("unknown acknowledge mode " + name);
    }
  }

  /** Sends text messages `prefix0..prefixN-1`, each with an int property `n`, persistent unless told. */
  static List<String> sendTexts(Session s, Destination d, String prefix, int count, int deliveryMode) throws JMSException {
    MessageProducer p = s.createProducer(d);
    p.setDeliveryMode(deliveryMode);
    List<String> bodies = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      Message m = s.createTextMessage(prefix + i);
      m.setIntProperty("n", i);
      p.send(m);
      bodies.add(prefix + i);
    }
    p.close();
    return bodies;
  }

  static List<String> sendTexts(Session s, Destination d, String prefix, int count) throws JMSException {
    return sendTexts(s, d, prefix, count, DeliveryMode.PERSISTENT);
  }

  /** Exactly `count` messages, each within the timeout, or an error naming how many came. */
  List<Message> receive(MessageConsumer consumer, int count) throws JMSException {
    List<Message> got = new ArrayList<>();
    while (got.size() < count) {
      Message m = consumer.receive(timeout);
      if (m == null) throw new IllegalStateException("expected " + count + " messages, received " + got.size() + " within " + timeout + " ms each");
      got.add(m);
    }
    return got;
  }

  /** Whatever arrives until nothing has for `quiet` ms. */
  List<Message> drain(MessageConsumer consumer) throws JMSException {
    List<Message> got = new ArrayList<>();
    for (Message m = consumer.receive(quiet); m != null; m = consumer.receive(quiet)) got.add(m);
    return got;
  }

  static List<Object> bodies(List<Message> messages) throws JMSException {
    List<Object> out = new ArrayList<>();
    for (Message m : messages) out.add(Messages.body(m));
    return out;
  }

  static List<Object> redelivered(List<Message> messages) throws JMSException {
    List<Object> out = new ArrayList<>();
    for (Message m : messages) out.add(m.getJMSRedelivered());
    return out;
  }

  static List<Object> deliveryCounts(List<Message> messages) throws JMSException {
    List<Object> out = new ArrayList<>();
    for (Message m : messages) out.add(m.getIntProperty("JMSXDeliveryCount"));
    return out;
  }

  static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
