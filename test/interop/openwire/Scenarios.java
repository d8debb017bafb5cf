import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.jms.BytesMessage;
import javax.jms.Connection;
import javax.jms.DeliveryMode;
import javax.jms.Destination;
import javax.jms.JMSException;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.MessageListener;
import javax.jms.MessageProducer;
import javax.jms.Queue;
import javax.jms.QueueBrowser;
import javax.jms.Session;
import javax.jms.TemporaryQueue;
import javax.jms.TextMessage;
import javax.jms.Topic;
import javax.jms.TopicSubscriber;

/** The messaging scenarios: each sends, receives and prints what it saw, for the test to judge. */
final class Scenarios {
  private final JmsDriver d;
  /** Prefix of every destination a scenario creates, so runs and tests never share one. */
  private final String base;

  Scenarios(JmsDriver driver) {
    this.d = driver;
    this.base = driver.opt("dest", "interop");
  }

  void run(String command) throws Exception {
    switch (command) {
      case "send": send(); break;
      case "receive": receive(); break;
      case "ack": ack(); break;
      case "transacted": transacted(); break;
      case "recover": recover(); break;
      case "selector": selector(); break;
      case "durable": durable(); break;
      case "request-reply": requestReply(); break;
      case "browse": browse(); break;
      case "exclusive": exclusive(); break;
      case "consumer-priority": consumerPriority(); break;
      case "groups": groups(); break;
      case "prefetch0": prefetchZero(); break;
      case "prefetch0-nowait": prefetchZeroNoWait(); break;
      case "async-send": asyncSend(); break;
      case "blocked-producer": blockedProducer(); break;
      case "two-consumers": twoConsumers(); break;
      case "dlq": deadLetter(); break;
      case "scheduled": scheduled(); break;
      case "wildcards": wildcards(); break;
      case "composite": composite(); break;
      case "virtual-topic": virtualTopic(); break;
      case "expiry": expiry(); break;
      case "priority": priority(); break;
      case "edge-bodies": edgeBodies(); break;
      default: if (!new Routes(d).run(command) && !new MessageAdvisories(d).run(command) && !new ConsumerAdvisories(d).run(command) && !new Lifetimes(d).run(command) && !new Ownership(d).run(command) && !new Backlog(d).run(command)) new Recovery(d).run(command);
    }
  }

  /** Counts arrivals across several listeners, so a scenario waits for the event, not a clock. */
  static final class Arrivals {
    private int total;

    synchronized void arrived() {
      total++;
      notifyAll();
    }

    synchronized int total() {
      return total;
    }

    synchronized void await(int n, long timeoutMs) throws InterruptedException {
      long end = System.currentTimeMillis() + timeoutMs;
      while (total < n) {
        long left = end - System.currentTimeMillis();
        if (left <= 0) throw new IllegalStateException("expected " + n + " messages in all, " + total + " arrived within " + timeoutMs + " ms");
        wait(left);
      }
    }
  }

  static final class Collector implements MessageListener {
    final List<Message> got = Collections.synchronizedList(new ArrayList<>());
    private final Arrivals arrivals;

    Collector(Arrivals arrivals) {
      this.arrivals = arrivals;
    }

    @Override
    public void onMessage(Message m) {
      got.add(m);
      arrivals.arrived();
    }

    List<Object> bodies() throws JMSException {
      synchronized (got) {
        return JmsDriver.bodies(new ArrayList<>(got));
      }
    }
  }

  /** `--rounds` rounds of one message of every JMS type, all headers and typed properties set. */
  private void send() throws Exception {
    int rounds = Integer.parseInt(d.opt("rounds", "1"));
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(d.required("queue"));
      Queue replyTo = s.createQueue(d.required("queue") + ".reply");
      MessageProducer p = s.createProducer(q);
      for (int round = 0; round < rounds; round++) {
        for (String kind : Messages.KINDS) {
          Message m = Messages.build(s, kind, round);
          Messages.decorate(m, kind, round, replyTo);
          // even rounds persistent, odd ones not; priorities and lifetimes differ by round
          int mode = round % 2 == 0 ? DeliveryMode.PERSISTENT : DeliveryMode.NON_PERSISTENT;
          int priority = (round * 3 + 1) % 10;
          p.send(m, mode, priority, 600_000);
          JmsDriver.emit("event", "sent", "id", m.getJMSMessageID(), "kind", kind, "round", round, "priority", priority,
              "deliveryMode", mode == DeliveryMode.PERSISTENT ? "persistent" : "non-persistent", "expiration", m.getJMSExpiration(),
              "timestamp", m.getJMSTimestamp());
        }
      }
    }
  }

  /**
   * Bodies at their edges, from a client that compresses (`jms.useCompression=true`): a short
   * BytesMessage and one written in three parts (the client deflates its whole write buffer), a
   * TextMessage and an ObjectMessage without a body, an empty MapMessage, and a JMSXUserID set as a
   * property; each as the consumer sees it, with its property names as the client lists them.
   */
  private void edgeBodies() throws Exception {
    try (JmsDriver.Conn c = d.connect("jms.useCompression=true", null)) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".edge");
      MessageProducer p = s.createProducer(q);
      BytesMessage hello = s.createBytesMessage();
      hello.writeBytes("hello world".getBytes(java.nio.charset.StandardCharsets.UTF_8));
      p.send(hello);
      BytesMessage parts = s.createBytesMessage();
      for (int i = 0; i < 3; i++) {
        byte[] part = new byte[700];
        Arrays.fill(part, (byte) i);
        parts.writeBytes(part);
      }
      p.send(parts);
      p.send(s.createTextMessage(null));
      p.send(s.createObjectMessage(null));
      p.send(s.createMapMessage());
      Message user = s.createTextMessage("user");
      user.setStringProperty("JMSXUserID", "mallory");
      p.send(user);
      for (Message m : d.receive(s.createConsumer(q), 6)) {
        List<String> names = new ArrayList<>();
        for (Enumeration<?> e = m.getPropertyNames(); e.hasMoreElements(); ) names.add((String) e.nextElement());
        Object body = Messages.body(m);
        // a long body is told by its length and the bytes at its part boundaries
        if (body instanceof byte[] && ((byte[]) body).length > 64) {
          byte[] b = (byte[]) body;
          body = Arrays.asList(b.length, b[0], b[699], b[700], b[1400], b[b.length - 1]);
        }
        JmsDriver.emit("event", "received", "kind", Messages.kindOf(m), "body", body, "names", names);
      }
    }
  }

  /** Exactly `--count` messages from `--queue`, each described in full; then none more. */
  private void receive() throws Exception {
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, JmsDriver.ackMode(d.opt("ack", "auto")));
      MessageConsumer consumer = s.createConsumer(s.createQueue(d.required("queue")));
      for (Message m : d.receive(consumer, d.count())) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("event", "received");
        line.putAll(Messages.describe(m));
        System.out.println(Json.of(line));
      }
      if (s.getTransacted()) s.commit();
      JmsDriver.emit("event", "after", "bodies", JmsDriver.bodies(d.drain(consumer)));
    }
  }

  /**
   * Acknowledge modes: receive all, acknowledge some (client: the first half by acknowledging the
   * middle one; individual: the odd ones), close, and see what a new consumer gets.
   */
  private void ack() throws Exception {
    String mode = d.required("mode");
    int n = d.count();
    String queue = base + ".ack";
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, JmsDriver.ackMode(mode));
      Queue q = s.createQueue(queue);
      JmsDriver.sendTexts(s, q, "m", n);
      MessageConsumer consumer = s.createConsumer(q);
      List<Message> first = new ArrayList<>();
      List<Object> acked = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        Message m = d.receive(consumer, 1).get(0);
        first.add(m);
        // CLIENT_ACKNOWLEDGE acknowledges everything the session has consumed so far
        if (mode.equals("client") && i == n / 2 - 1) {
          m.acknowledge();
          acked.add("m0..m" + i);
        }
        if (mode.equals("individual") && i % 2 == 1) {
          m.acknowledge();
          acked.add(((TextMessage) m).getText());
        }
      }
      JmsDriver.emit("event", "first", "bodies", JmsDriver.bodies(first), "acknowledged", acked);
    }
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      List<Message> again = d.drain(s.createConsumer(s.createQueue(queue)));
      JmsDriver.emit("event", "again", "bodies", JmsDriver.bodies(again), "redelivered", JmsDriver.redelivered(again),
          "deliveryCounts", JmsDriver.deliveryCounts(again));
    }
  }

  /** Transacted sends are invisible until commit; a rolled-back receive comes again, marked redelivered. */
  private void transacted() throws Exception {
    int n = d.count();
    try (JmsDriver.Conn c = d.connect(); JmsDriver.Conn watcher = d.connect()) {
      Session tx = JmsDriver.session(c, Session.SESSION_TRANSACTED);
      Queue q = tx.createQueue(base + ".tx");
      Session ws = JmsDriver.session(watcher, Session.AUTO_ACKNOWLEDGE);
      JmsDriver.sendTexts(tx, q, "discarded", 1);
      tx.rollback();
      JmsDriver.sendTexts(tx, q, "m", n);
      MessageConsumer peek = ws.createConsumer(q);
      JmsDriver.emit("event", "before-commit", "bodies", JmsDriver.bodies(d.drain(peek)));
      peek.close();
      tx.commit();
      MessageConsumer consumer = tx.createConsumer(q);
      List<Message> first = d.receive(consumer, n);
      tx.rollback();
      List<Message> second = d.receive(consumer, n);
      tx.commit();
      JmsDriver.emit("event", "first", "bodies", JmsDriver.bodies(first), "redelivered", JmsDriver.redelivered(first),
          "deliveryCounts", JmsDriver.deliveryCounts(first));
      JmsDriver.emit("event", "after-rollback", "bodies", JmsDriver.bodies(second), "redelivered", JmsDriver.redelivered(second),
          "deliveryCounts", JmsDriver.deliveryCounts(second));
      consumer.close();
      JmsDriver.emit("event", "after-commit", "bodies", JmsDriver.bodies(d.drain(ws.createConsumer(q))));
    }
  }

  /** session.recover() in CLIENT_ACKNOWLEDGE redelivers everything not acknowledged. */
  private void recover() throws Exception {
    int n = d.count();
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.CLIENT_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".recover");
      JmsDriver.sendTexts(s, q, "m", n);
      MessageConsumer consumer = s.createConsumer(q);
      List<Message> first = d.receive(consumer, n);
      s.recover();
      List<Message> second = d.receive(consumer, n);
      second.get(n - 1).acknowledge();
      JmsDriver.emit("event", "first", "bodies", JmsDriver.bodies(first), "redelivered", JmsDriver.redelivered(first));
      JmsDriver.emit("event", "recovered", "bodies", JmsDriver.bodies(second), "redelivered", JmsDriver.redelivered(second),
          "deliveryCounts", JmsDriver.deliveryCounts(second));
      consumer.close();
      JmsDriver.emit("event", "after-ack", "bodies", JmsDriver.bodies(d.drain(s.createConsumer(q))));
    }
  }

  /** A selector on a string and an int property takes its messages; a plain consumer the rest. */
  private void selector() throws Exception {
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".selector");
      MessageProducer p = s.createProducer(q);
      for (int i = 0; i < 8; i++) {
        Message m = s.createTextMessage("m" + i);
        m.setStringProperty("color", i % 2 == 0 ? "red" : "blue");
        m.setIntProperty("n", i);
        p.send(m);
      }
      String selector = d.opt("selector", "color = 'red' AND n >= 2");
      List<Message> picked = d.drain(s.createConsumer(q, selector));
      List<Message> rest = d.drain(s.createConsumer(q));
      JmsDriver.emit("event", "selected", "selector", selector, "bodies", JmsDriver.bodies(picked), "rest", JmsDriver.bodies(rest));
    }
  }

  /** A durable subscription keeps what is published while its subscriber is away, until unsubscribed. */
  private void durable() throws Exception {
    String clientId = base + "-client";
    String name = "sub";
    String topicName = base + ".durable";
    try (JmsDriver.Conn c = d.connect(d.opt("options", ""), clientId)) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Topic t = s.createTopic(topicName);
      TopicSubscriber sub = s.createDurableSubscriber(t, name);
      JmsDriver.sendTexts(s, t, "live", 1);
      JmsDriver.emit("event", "live", "bodies", JmsDriver.bodies(d.receive(sub, 1)));
    }
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      JmsDriver.sendTexts(s, s.createTopic(topicName), "away", 3);
    }
    try (JmsDriver.Conn c = d.connect(d.opt("options", ""), clientId)) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Topic t = s.createTopic(topicName);
      TopicSubscriber sub = s.createDurableSubscriber(t, name);
      JmsDriver.emit("event", "resumed", "bodies", JmsDriver.bodies(d.receive(sub, 3)), "more", JmsDriver.bodies(d.drain(sub)));
      sub.close();
      s.unsubscribe(name);
      JmsDriver.sendTexts(s, t, "after-unsubscribe", 1);
      TopicSubscriber fresh = s.createDurableSubscriber(t, name);
      JmsDriver.emit("event", "resubscribed", "bodies", JmsDriver.bodies(d.drain(fresh)));
      fresh.close();
      s.unsubscribe(name);
      String refusal = null;
      try {
        s.unsubscribe(name);
      } catch (JMSException gone) {
        refusal = gone.getClass().getName();
      }
      JmsDriver.emit("event", "unsubscribed-again", "exception", refusal);
    }
  }

  /** Requests carry a temporary queue in JMSReplyTo; a responder answers there with the correlation id. */
  private void requestReply() throws Exception {
    int n = d.count();
    try (JmsDriver.Conn responderConnection = d.connect(); JmsDriver.Conn c = d.connect()) {
      Session rs = JmsDriver.session(responderConnection, Session.AUTO_ACKNOWLEDGE);
      MessageProducer replier = rs.createProducer(null);
      rs.createConsumer(rs.createQueue(base + ".service")).setMessageListener(request -> {
        try {
          TextMessage reply = rs.createTextMessage("reply to " + ((TextMessage) request).getText());
          reply.setJMSCorrelationID(request.getJMSCorrelationID());
          replier.send(request.getJMSReplyTo(), reply);
        } catch (JMSException err) {
          JmsDriver.emit("event", "responder-error", "message", err.getMessage());
        }
      });
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      TemporaryQueue replies = s.createTemporaryQueue();
      MessageProducer p = s.createProducer(s.createQueue(base + ".service"));
      for (int i = 0; i < n; i++) {
        TextMessage m = s.createTextMessage("request " + i);
        m.setJMSReplyTo(replies);
        m.setJMSCorrelationID("corr-" + i);
        p.send(m);
      }
      List<Object> got = new ArrayList<>();
      for (Message m : d.receive(s.createConsumer(replies), n)) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("body", ((TextMessage) m).getText());
        r.put("correlationId", m.getJMSCorrelationID());
        r.put("destination", Messages.destination(m.getJMSDestination()));
        got.add(r);
      }
      JmsDriver.emit("event", "replies", "replyTo", Messages.destination(replies), "replies", got);
    }
  }

  /** A browser sees the queue without taking from it. */
  private void browse() throws Exception {
    int n = d.count();
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".browse");
      JmsDriver.sendTexts(s, q, "m", n);
      JmsDriver.emit("event", "browsed", "bodies", browseAll(s, q, null));
      JmsDriver.emit("event", "browsed-selector", "bodies", browseAll(s, q, "n >= " + (n - 2)));
      JmsDriver.emit("event", "consumed", "bodies", JmsDriver.bodies(d.receive(s.createConsumer(q), n)));
      JmsDriver.emit("event", "browsed-after", "bodies", browseAll(s, q, null));
    }
  }

  private static List<Object> browseAll(Session s, Queue q, String selector) throws JMSException {
    QueueBrowser browser = selector == null ? s.createBrowser(q) : s.createBrowser(q, selector);
    List<Message> seen = new ArrayList<>();
    for (Enumeration<?> e = browser.getEnumeration(); e.hasMoreElements(); ) seen.add((Message) e.nextElement());
    browser.close();
    return JmsDriver.bodies(seen);
  }

  /** An exclusive consumer takes everything; when it closes, the other one takes over. */
  private void exclusive() throws Exception {
    int n = d.count();
    try (JmsDriver.Conn c = d.connect()) {
      Session s1 = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Session s2 = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s1.createQueue(base + ".exclusive?consumer.exclusive=true");
      Arrivals arrivals = new Arrivals();
      Collector first = new Collector(arrivals);
      Collector second = new Collector(arrivals);
      MessageConsumer c1 = s1.createConsumer(q);
      c1.setMessageListener(first);
      s2.createConsumer(q).setMessageListener(second);
      Session ps = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue plain = ps.createQueue(base + ".exclusive");
      JmsDriver.sendTexts(ps, plain, "a", n);
      arrivals.await(n, d.timeout);
      c1.close();
      JmsDriver.sendTexts(ps, plain, "b", n);
      arrivals.await(2 * n, d.timeout);
      Thread.sleep(d.quiet); // room for a wrong extra delivery to show
      JmsDriver.emit("event", "exclusive", "first", first.bodies(), "second", second.bodies(), "total", arrivals.total());
    }
  }

  /** With both consumers open, the higher consumer priority gets the messages. */
  private void consumerPriority() throws Exception {
    int n = d.count();
    try (JmsDriver.Conn c = d.connect()) {
      Session s1 = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Session s2 = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      String name = base + ".consumer-priority";
      Arrivals arrivals = new Arrivals();
      Collector low = new Collector(arrivals);
      Collector high = new Collector(arrivals);
      s1.createConsumer(s1.createQueue(name + "?consumer.priority=1")).setMessageListener(low);
      s2.createConsumer(s2.createQueue(name + "?consumer.priority=9")).setMessageListener(high);
      Session ps = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      JmsDriver.sendTexts(ps, ps.createQueue(name), "m", n);
      arrivals.await(n, d.timeout);
      Thread.sleep(d.quiet);
      JmsDriver.emit("event", "consumer-priority", "low", low.bodies(), "high", high.bodies(), "total", arrivals.total());
    }
  }

  /** Messages of one JMSXGroupID go to one consumer, in order. */
  private void groups() throws Exception {
    int perGroup = d.count();
    String[] groupIds = {"A", "B", "C", "D"};
    try (JmsDriver.Conn c1 = d.connect(); JmsDriver.Conn c2 = d.connect()) {
      String name = base + ".groups";
      Arrivals arrivals = new Arrivals();
      Collector first = new Collector(arrivals);
      Collector second = new Collector(arrivals);
      Session s1 = JmsDriver.session(c1, Session.AUTO_ACKNOWLEDGE);
      Session s2 = JmsDriver.session(c2, Session.AUTO_ACKNOWLEDGE);
      s1.createConsumer(s1.createQueue(name)).setMessageListener(first);
      s2.createConsumer(s2.createQueue(name)).setMessageListener(second);
      MessageProducer p = s1.createProducer(s1.createQueue(name));
      for (int i = 0; i < perGroup; i++) {
        for (String g : groupIds) {
          Message m = s1.createTextMessage(g + i);
          m.setStringProperty("JMSXGroupID", g);
          p.send(m);
        }
      }
      arrivals.await(perGroup * groupIds.length, d.timeout);
      Thread.sleep(d.quiet);
      JmsDriver.emit("event", "groups", "first", first.bodies(), "second", second.bodies(), "total", arrivals.total(),
          "firstForConsumer", firstForConsumer(first.got), "firstForConsumerSecond", firstForConsumer(second.got));
    }
  }

  private static List<Object> firstForConsumer(List<Message> got) throws JMSException {
    List<Object> out = new ArrayList<>();
    synchronized (got) {
      for (Message m : got) if (m.propertyExists("JMSXGroupFirstForConsumer") && m.getBooleanProperty("JMSXGroupFirstForConsumer")) out.add(Messages.body(m));
    }
    return out;
  }

  /** With prefetch 0 (MessagePull) two consumers share a queue one receive at a time. */
  private void prefetchZero() throws Exception {
    int n = d.count();
    try (JmsDriver.Conn c = d.connect("jms.prefetchPolicy.all=0", null)) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".pull");
      MessageConsumer c1 = s.createConsumer(q);
      MessageConsumer c2 = s.createConsumer(q);
      Object empty = c1.receiveNoWait();
      JmsDriver.sendTexts(s, q, "m", n);
      List<Object> first = new ArrayList<>();
      List<Object> second = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        Message m = (i % 2 == 0 ? c1 : c2).receive(d.timeout);
        if (m == null) throw new IllegalStateException("receive " + i + " with prefetch 0 got nothing");
        (i % 2 == 0 ? first : second).add(Messages.body(m));
      }
      JmsDriver.emit("event", "pulled", "first", first, "second", second, "emptyReceiveNoWait", empty == null,
          "afterNoWait", c1.receiveNoWait() == null ? null : "a message");
    }
  }

  /**
   * Persistent messages already waiting, taken with prefetch 0 the way Spring's JmsTemplate does
   * with RECEIVE_TIMEOUT_NO_WAIT: a consumer made, receiveNoWait(), closed, once per message; then
   * the rest drained until receiveNoWait() says there is none.
   */
  private void prefetchZeroNoWait() throws Exception {
    int n = d.count();
    try (JmsDriver.Conn c = d.connect("jms.prefetchPolicy.all=0", null)) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".pull-nowait");
      JmsDriver.sendTexts(s, q, "m", 2 * n);
      List<Object> oneEach = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        MessageConsumer consumer = s.createConsumer(q);
        Message m = consumer.receiveNoWait();
        consumer.close();
        oneEach.add(m == null ? null : Messages.body(m));
      }
      List<Object> drained = new ArrayList<>();
      MessageConsumer consumer = s.createConsumer(q);
      for (Message m = consumer.receiveNoWait(); m != null; m = consumer.receiveNoWait()) drained.add(Messages.body(m));
      JmsDriver.emit("event", "pulled-now", "oneEach", oneEach, "drained", drained);
    }
  }

  /** Asynchronous sends within a producer window: every message arrives once, in order. */
  private void asyncSend() throws Exception {
    int n = d.count();
    String window = d.opt("window", "65536");
    try (JmsDriver.Conn c = d.connect("jms.useAsyncSend=true&jms.producerWindowSize=" + window, null)) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".async");
      MessageProducer p = s.createProducer(q);
      p.setDeliveryMode(d.opt("persistent", "true").equals("true") ? DeliveryMode.PERSISTENT : DeliveryMode.NON_PERSISTENT);
      byte[] body = new byte[1024];
      for (int i = 0; i < n; i++) {
        javax.jms.BytesMessage m = s.createBytesMessage();
        body[0] = (byte) i;
        m.writeBytes(body);
        m.setIntProperty("n", i);
        p.send(m);
      }
      MessageConsumer consumer = s.createConsumer(q);
      List<Object> order = new ArrayList<>();
      for (Message m : d.receive(consumer, n)) order.add(m.getIntProperty("n"));
      JmsDriver.emit("event", "async", "received", order, "extra", d.drain(consumer).size());
    }
  }

  /**
   * Producer flow control: a synchronous producer to a queue at its memory limit waits inside send()
   * until a consumer on another connection makes room; nothing it sent is lost or reordered. The
   * producer runs in its own thread; its count of completed sends is read once it has not moved for
   * `quiet` ms (a stall), then the consumer starts.
   */
  private void blockedProducer() throws Exception {
    int n = d.count();
    String name = base + ".block";
    try (JmsDriver.Conn pc = d.connect(); JmsDriver.Conn cc = d.connect()) {
      Session ps = JmsDriver.session(pc, Session.AUTO_ACKNOWLEDGE);
      MessageProducer p = ps.createProducer(ps.createQueue(name));
      p.setDeliveryMode(DeliveryMode.PERSISTENT);
      java.util.concurrent.atomic.AtomicInteger sent = new java.util.concurrent.atomic.AtomicInteger();
      java.util.concurrent.atomic.AtomicReference<Exception> failed = new java.util.concurrent.atomic.AtomicReference<>();
      Thread producer = new Thread(() -> {
        try {
          byte[] body = new byte[1024];
          for (int i = 0; i < n; i++) {
            javax.jms.BytesMessage m = ps.createBytesMessage();
            m.writeBytes(body);
            m.setIntProperty("n", i);
            p.send(m);
            sent.incrementAndGet();
          }
        } catch (Exception e) {
          failed.set(e);
        }
      });
      producer.start();
      int seen = -1;
      while (sent.get() != seen && sent.get() < n) {
        seen = sent.get();
        Thread.sleep(d.quiet);
      }
      int stalledAt = sent.get();
      Session cs = JmsDriver.session(cc, Session.AUTO_ACKNOWLEDGE);
      MessageConsumer consumer = cs.createConsumer(cs.createQueue(name));
      List<Object> order = new ArrayList<>();
      for (Message m : d.receive(consumer, n)) order.add(m.getIntProperty("n"));
      producer.join(d.timeout);
      if (failed.get() != null) throw failed.get();
      JmsDriver.emit("event", "blocked", "stalledAt", stalledAt, "sent", sent.get(), "received", order);
    }
  }

  /** Two consumers on one queue: a broker whose limit allows one refuses the second in createConsumer(). */
  private void twoConsumers() throws Exception {
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".limited");
      s.createConsumer(q);
      s.createConsumer(q);
      JmsDriver.emit("event", "two-consumers");
    }
  }

  /** Past the client's redelivery policy a message goes to ActiveMQ.DLQ. */
  private void deadLetter() throws Exception {
    String tag = base + "-dlq";
    String options = "jms.redeliveryPolicy.maximumRedeliveries=1&jms.redeliveryPolicy.initialRedeliveryDelay=0&jms.redeliveryPolicy.redeliveryDelay=0";
    try (JmsDriver.Conn c = d.connect(options, null)) {
      Session tx = JmsDriver.session(c, Session.SESSION_TRANSACTED);
      Queue q = tx.createQueue(base + ".dlq");
      MessageProducer p = tx.createProducer(q);
      Message m = tx.createTextMessage("poison");
      m.setStringProperty("tag", tag);
      p.send(m);
      tx.commit();
      MessageConsumer consumer = tx.createConsumer(q);
      List<Object> attempts = new ArrayList<>();
      for (Message got = consumer.receive(d.timeout); got != null; got = consumer.receive(d.quiet)) {
        attempts.add(got.getIntProperty("JMSXDeliveryCount"));
        tx.rollback();
      }
      consumer.close();
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      List<Object> dead = new ArrayList<>();
      for (Message dl : d.receive(s.createConsumer(s.createQueue(d.opt("dlq", "ActiveMQ.DLQ")), "tag = '" + tag + "'"), 1)) dead.add(Messages.describe(dl));
      JmsDriver.emit("event", "dead-letter", "attempts", attempts, "dead", dead);
    }
  }

  /** AMQ_SCHEDULED_DELAY holds a message back; it arrives once the delay has passed. */
  private void scheduled() throws Exception {
    long delay = Long.parseLong(d.opt("delay", "3000"));
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".scheduled");
      MessageConsumer consumer = s.createConsumer(q);
      Message m = s.createTextMessage("later");
      m.setLongProperty("AMQ_SCHEDULED_DELAY", delay);
      long sentAt = System.currentTimeMillis();
      s.createProducer(q).send(m);
      Message early = consumer.receive(delay / 3);
      Message late = consumer.receive(delay + d.timeout);
      long elapsed = System.currentTimeMillis() - sentAt;
      JmsDriver.emit("event", "scheduled", "early", early == null ? null : Messages.body(early), "late", late == null ? null : Messages.body(late),
          "elapsedMs", elapsed, "delayMs", delay);
    }
  }

  /** `*` matches one name segment, `>` the rest, on topics and on queues. */
  private void wildcards() throws Exception {
    String p = base + ".wc";
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      String[] patterns = {p + ".>", p + ".*.b", p + ".a.*", p + ".a.b"};
      List<MessageConsumer> consumers = new ArrayList<>();
      for (String pattern : patterns) consumers.add(s.createConsumer(s.createTopic(pattern)));
      for (String name : new String[] {p + ".a.b", p + ".a.c", p + ".x", p + ".x.y.b"}) {
        JmsDriver.sendTexts(s, s.createTopic(name), name.substring(p.length() + 1) + "#", 1);
      }
      Map<String, Object> topics = new LinkedHashMap<>();
      for (int i = 0; i < patterns.length; i++) topics.put(patterns[i].substring(base.length() + 1), JmsDriver.bodies(d.drain(consumers.get(i))));
      JmsDriver.sendTexts(s, s.createQueue(p + "q.one"), "one#", 1);
      JmsDriver.sendTexts(s, s.createQueue(p + "q.two"), "two#", 1);
      JmsDriver.sendTexts(s, s.createQueue(p + "q.three.deep"), "deep#", 1);
      List<Object> queue = JmsDriver.bodies(d.drain(s.createConsumer(s.createQueue(p + "q.*"))));
      JmsDriver.emit("event", "wildcards", "topics", topics, "queueStar", queue);
    }
  }

  /** A composite destination `a,b,topic://t` delivers one send to each part. */
  private void composite() throws Exception {
    String p = base + ".comp";
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      MessageConsumer topicConsumer = s.createConsumer(s.createTopic(p + ".t"));
      Queue composite = s.createQueue(p + ".a," + p + ".b,topic://" + p + ".t");
      JmsDriver.sendTexts(s, composite, "m", 2);
      JmsDriver.emit("event", "composite", "a", JmsDriver.bodies(d.drain(s.createConsumer(s.createQueue(p + ".a")))),
          "b", JmsDriver.bodies(d.drain(s.createConsumer(s.createQueue(p + ".b")))), "t", JmsDriver.bodies(d.drain(topicConsumer)),
          "destination", Messages.destination(composite));
    }
  }

  /** Each Consumer.X.VirtualTopic.T queue gets its own copy of what is published to VirtualTopic.T. */
  private void virtualTopic() throws Exception {
    int n = d.count();
    String topic = "VirtualTopic." + base;
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Arrivals arrivals = new Arrivals();
      Collector a1 = new Collector(arrivals);
      Collector a2 = new Collector(arrivals);
      Collector b = new Collector(arrivals);
      Collector plain = new Collector(arrivals);
      Session[] sessions = {JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE), JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE),
          JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE), JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE)};
      // prefetch 1 on consumer A's two members so that they share the queue
      sessions[0].createConsumer(sessions[0].createQueue("Consumer.A." + topic + "?consumer.prefetchSize=1")).setMessageListener(a1);
      sessions[1].createConsumer(sessions[1].createQueue("Consumer.A." + topic + "?consumer.prefetchSize=1")).setMessageListener(a2);
      sessions[2].createConsumer(sessions[2].createQueue("Consumer.B." + topic)).setMessageListener(b);
      sessions[3].createConsumer(sessions[3].createTopic(topic)).setMessageListener(plain);
      JmsDriver.sendTexts(s, s.createTopic(topic), "m", n);
      arrivals.await(3 * n, d.timeout);
      Thread.sleep(d.quiet);
      JmsDriver.emit("event", "virtual-topic", "a1", a1.bodies(), "a2", a2.bodies(), "b", b.bodies(), "topic", plain.bodies(),
          "total", arrivals.total());
    }
  }

  /** A message past its time to live is not delivered; where it goes instead is printed. */
  private void expiry() throws Exception {
    String tag = base + "-expiry";
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".expiry");
      MessageProducer p = s.createProducer(q);
      for (String[] spec : new String[][] {{"short-persistent", "p"}, {"short-non-persistent", "n"}, {"long", "p"}}) {
        Message m = s.createTextMessage(spec[0]);
        m.setStringProperty("tag", tag);
        int mode = spec[1].equals("p") ? DeliveryMode.PERSISTENT : DeliveryMode.NON_PERSISTENT;
        p.send(m, mode, 4, spec[0].startsWith("short") ? 50 : 0);
      }
      // the scenario itself: let the short lifetimes run out before anyone consumes
      Thread.sleep(Long.parseLong(d.opt("wait", "500")));
      List<Object> live = JmsDriver.bodies(d.drain(s.createConsumer(q)));
      List<Object> dead = JmsDriver.bodies(d.drain(s.createConsumer(s.createQueue(d.opt("dlq", "ActiveMQ.DLQ")), "tag = '" + tag + "'")));
      JmsDriver.emit("event", "expiry", "live", live, "deadLetter", dead);
    }
  }

  /** Messages waiting on a queue come out highest JMSPriority first. */
  private void priority() throws Exception {
    int[] priorities = {0, 9, 4, 1, 7, 5, 9, 2, 8, 3, 6, 0};
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".priority");
      MessageProducer p = s.createProducer(q);
      for (int i = 0; i < priorities.length; i++) p.send(s.createTextMessage("m" + i + "/p" + priorities[i]), DeliveryMode.PERSISTENT, priorities[i], 0);
      List<Object> order = new ArrayList<>();
      for (Message m : d.receive(s.createConsumer(q), priorities.length)) order.add(m.getJMSPriority());
      JmsDriver.emit("event", "priority", "sent", toList(priorities), "received", order);
    }
  }

  private static List<Object> toList(int[] values) {
    List<Object> out = new ArrayList<>();
    for (int v : values) out.add(v);
    return out;
  }
}
