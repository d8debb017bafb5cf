import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.jms.*;
import javax.transaction.xa.XAResource;
import javax.transaction.xa.Xid;
import org.apache.activemq.ActiveMQConnection;
import org.apache.activemq.ActiveMQConnectionFactory;
import org.apache.activemq.ActiveMQSession;
import org.apache.activemq.ActiveMQXAConnectionFactory;
import org.apache.activemq.RedeliveryPolicy;
import org.apache.activemq.command.ActiveMQMessage;

/**
 * ActiveMQ's own JMS client doing what JMS applications do, one check per invocation:
 * `java JmsChecks <url> <check> [args...]`. Each prints what it saw as JSON lines
 * ({"key": ..., "value": ...}) for the test to compare; a failure prints {"error": ...} and exits 1.
 * Every receive has a time limit, so a broker that stops answering fails the check instead of hanging it.
 */
public class JmsChecks {
  static final long WAIT = 5000;
  static String url;

  public static void main(String[] args) throws Exception {
    url = args[0];
    String check = args[1];
    String[] rest = Arrays.copyOfRange(args, 2, args.length);
    try {
      switch (check) {
        case "types": types(rest[0]); break;
        case "ack-modes": ackModes(rest[0]); break;
        case "durable": durable(rest[0]); break;
        case "request-reply": requestReply(); break;
        case "browse-select-pull": browseSelectPull(rest[0]); break;
        case "dead-letter": deadLetter(rest[0]); break;
        case "xa-prepare": xaPrepare(rest[0], Integer.parseInt(rest[1])); break;
        case "xa-recover": xaRecover(rest[0]); break;
        case "count": count(rest[0]); break;
        case "advisories": advisories(rest[0]); break;
        case "produce": produce(rest[0], Integer.parseInt(rest[1]), rest.length > 2 ? rest[2] : null); break;
        case "consume": consume(rest[0], Integer.parseInt(rest[1])); break;
        case "login": login(rest[0], rest[1], rest[2]); break;
        case "groups-exclusive": groupsExclusive(rest[0]); break;
        default: throw new IllegalArgumentException("unknown check " + check);
      }
    } catch (Throwable e) {
      out("error", e.getClass().getName() + ": " + e.getMessage());
      System.out.flush();
      System.exit(1);
    }
    System.exit(0);
  }

  static void out(String key, Object value) {
    String text = value == null ? "null" : value instanceof Number || value instanceof Boolean ? value.toString() : quote(value.toString());
    System.out.println("{\"key\":" + quote(key) + ",\"value\":" + text + "}");
  }

  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') b.append('\\').append(c);
      else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
      else b.append(c);
    }
    return b.append('"').toString();
  }

  static Connection connect() throws JMSException {
    ActiveMQConnectionFactory factory = new ActiveMQConnectionFactory(url);
    // an application that uses ObjectMessage names the classes it trusts; this one trusts its own
    factory.setTrustAllPackages(true);
    Connection c = factory.createConnection();
    c.start();
    return c;
  }

  static Message need(Message m, String what) {
    if (m == null) throw new java.lang.IllegalStateException("no message within " + WAIT + " ms: " + what);
    return m;
  }

  /** A harmless Serializable: the broker must carry its bytes without ever deserialising them. */
  public static class Order implements Serializable {
    private static final long serialVersionUID = 1L;
    public String item = "book";
    public int quantity = 3;
  }

  static void types(String queue) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    Queue q = s.createQueue(queue);
    Queue replyTo = s.createQueue(queue + ".replies");
    MessageProducer p = s.createProducer(q);
    List<Message> sent = new ArrayList<>();
    sent.add(s.createTextMessage("text ünïcode \u0000 \ud83d\ude00"));
    BytesMessage bytes = s.createBytesMessage();
    bytes.writeBytes(new byte[] {0, 1, 2, (byte) 255});
    sent.add(bytes);
    MapMessage map = s.createMapMessage();
    map.setInt("i", 7);
    map.setString("s", "v");
    map.setDouble("d", 2.5);
    map.setBytes("b", new byte[] {9});
    sent.add(map);
    StreamMessage stream = s.createStreamMessage();
    stream.writeLong(1L << 40);
    stream.writeString("x");
    stream.writeBoolean(true);
    sent.add(stream);
    sent.add(s.createObjectMessage(new Order()));
    sent.add(s.createMessage());
    for (Message m : sent) {
      m.setBooleanProperty("pBool", true);
      m.setByteProperty("pByte", (byte) -3);
      m.setShortProperty("pShort", (short) 300);
      m.setIntProperty("pInt", -70000);
      m.setLongProperty("pLong", 1L << 50);
      m.setFloatProperty("pFloat", 1.5f);
      m.setDoubleProperty("pDouble", 0.1);
      m.setStringProperty("pString", "str");
      m.setJMSCorrelationID("corr-1");
      m.setJMSReplyTo(replyTo);
      m.setJMSType("order-type");
      m.setStringProperty("JMSXGroupID", "g1");
      m.setIntProperty("JMSXGroupSeq", 5);
      p.send(m, DeliveryMode.PERSISTENT, 7, 60000);
    }
    MessageConsumer consumer = s.createConsumer(q);
    for (int i = 0; i < sent.size(); i++) {
      Message m = need(consumer.receive(WAIT), "typed message " + i);
      String prefix = "m" + i + ".";
      out(prefix + "class", m.getClass().getSimpleName());
      for (String name : new String[] {"pBool", "pByte", "pShort", "pInt", "pLong", "pFloat", "pDouble", "pString"}) {
        Object v = m.getObjectProperty(name);
        out(prefix + name, v == null ? "null" : v.getClass().getSimpleName() + ":" + v);
      }
      out(prefix + "correlationId", m.getJMSCorrelationID());
      out(prefix + "replyTo", String.valueOf(m.getJMSReplyTo()));
      out(prefix + "type", m.getJMSType());
      out(prefix + "priority", m.getJMSPriority());
      out(prefix + "persistent", m.getJMSDeliveryMode() == DeliveryMode.PERSISTENT);
      out(prefix + "expires", m.getJMSExpiration() > System.currentTimeMillis());
      out(prefix + "groupId", m.getStringProperty("JMSXGroupID"));
      out(prefix + "groupSeq", m.getIntProperty("JMSXGroupSeq"));
      out(prefix + "messageId", m.getJMSMessageID().equals(sent.get(i).getJMSMessageID()));
      if (m instanceof TextMessage) out(prefix + "text", ((TextMessage) m).getText());
      if (m instanceof BytesMessage) {
        BytesMessage b = (BytesMessage) m;
        byte[] body = new byte[(int) b.getBodyLength()];
        b.readBytes(body);
        out(prefix + "bytes", Arrays.toString(body));
      }
      if (m instanceof MapMessage) {
        MapMessage mm = (MapMessage) m;
        out(prefix + "map", mm.getInt("i") + "," + mm.getString("s") + "," + mm.getDouble("d") + "," + Arrays.toString(mm.getBytes("b")));
      }
      if (m instanceof StreamMessage) {
        StreamMessage sm = (StreamMessage) m;
        out(prefix + "stream", sm.readLong() + "," + sm.readString() + "," + sm.readBoolean());
      }
      if (m instanceof ObjectMessage) {
        Order o = (Order) ((ObjectMessage) m).getObject();
        out(prefix + "object", o.item + "x" + o.quantity);
      }
    }
    c.close();
  }

  static void ackModes(String queue) throws Exception {
    Connection c = connect();
    Session producer = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageProducer p = producer.createProducer(producer.createQueue(queue));
    for (int i = 1; i <= 4; i++) p.send(producer.createTextMessage("m" + i));

    // CLIENT_ACKNOWLEDGE: recover() redelivers what was not acknowledged; acknowledge() takes everything received
    Session client = c.createSession(false, Session.CLIENT_ACKNOWLEDGE);
    MessageConsumer cc = client.createConsumer(client.createQueue(queue));
    Message first = need(cc.receive(WAIT), "client m1");
    client.recover();
    Message again = need(cc.receive(WAIT), "client m1 again");
    out("recover.same", first.getJMSMessageID().equals(again.getJMSMessageID()));
    out("recover.redelivered", again.getJMSRedelivered());
    out("recover.deliveryCount", again.getIntProperty("JMSXDeliveryCount"));
    again.acknowledge();
    cc.close();

    // INDIVIDUAL_ACKNOWLEDGE: acknowledging the second leaves the first (m2) to come back
    Session individual = c.createSession(false, ActiveMQSession.INDIVIDUAL_ACKNOWLEDGE);
    MessageConsumer ic = individual.createConsumer(individual.createQueue(queue));
    TextMessage m2 = (TextMessage) need(ic.receive(WAIT), "individual first");
    TextMessage m3 = (TextMessage) need(ic.receive(WAIT), "individual second");
    m3.acknowledge();
    out("individual.received", m2.getText() + "," + m3.getText());
    ic.close();

    // a transacted session: rollback gives the message back, commit consumes
    Session tx = c.createSession(true, Session.SESSION_TRANSACTED);
    MessageConsumer tc = tx.createConsumer(tx.createQueue(queue));
    TextMessage t1 = (TextMessage) need(tc.receive(WAIT), "tx first");
    tx.rollback();
    TextMessage t2 = (TextMessage) need(tc.receive(WAIT), "tx again");
    out("tx.rolledBack", t1.getText() + "," + t2.getText() + "," + t2.getJMSRedelivered());
    TextMessage t3 = (TextMessage) need(tc.receive(WAIT), "tx m4");
    tx.commit();
    out("tx.committed", t3.getText());
    tc.close();

    // DUPS_OK: everything is left consumed
    Session dups = c.createSession(false, Session.DUPS_OK_ACKNOWLEDGE);
    MessageConsumer dc = dups.createConsumer(dups.createQueue(queue));
    out("after.left", String.valueOf(dc.receive(500)));
    c.close();
  }

  static void durable(String topic) throws Exception {
    String clientId = "durable-" + topic;
    Connection c = new ActiveMQConnectionFactory(url).createConnection();
    c.setClientID(clientId);
    c.start();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    Topic t = s.createTopic(topic);
    TopicSubscriber sub = s.createDurableSubscriber(t, "sub", "kind = 'keep'", false);
    sub.close();
    Connection pc = connect();
    Session ps = pc.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageProducer p = ps.createProducer(ps.createTopic(topic));
    for (String kind : new String[] {"keep", "skip", "keep"}) {
      TextMessage m = ps.createTextMessage(kind);
      m.setStringProperty("kind", kind);
      p.send(m);
    }
    pc.close();
    sub = s.createDurableSubscriber(t, "sub", "kind = 'keep'", false);
    List<String> got = new ArrayList<>();
    Message m;
    while ((m = sub.receive(1000)) != null) got.add(((TextMessage) m).getText());
    out("whileAway", String.join(",", got));
    sub.close();
    s.unsubscribe("sub");
    try {
      s.unsubscribe("sub");
      out("unsubscribeTwice", "accepted");
    } catch (JMSException e) {
      out("unsubscribeTwice", "refused");
    }
    c.close();
  }

  static void requestReply() throws Exception {
    Connection requester = connect();
    Connection replier = connect();
    Session rs = requester.createSession(false, Session.AUTO_ACKNOWLEDGE);
    Session ws = replier.createSession(false, Session.AUTO_ACKNOWLEDGE);
    Queue service = rs.createQueue("service." + System.nanoTime());
    MessageConsumer serviceConsumer = ws.createConsumer(service);
    MessageProducer replies = ws.createProducer(null);
    serviceConsumer.setMessageListener(m -> {
      try {
        TextMessage reply = ws.createTextMessage("re: " + ((TextMessage) m).getText());
        reply.setJMSCorrelationID(m.getJMSCorrelationID());
        replies.send(m.getJMSReplyTo(), reply);
      } catch (JMSException e) {
        out("error", "replier: " + e);
      }
    });
    TemporaryQueue inbox = rs.createTemporaryQueue();
    MessageConsumer inboxConsumer = rs.createConsumer(inbox);
    TextMessage request = rs.createTextMessage("ping");
    request.setJMSReplyTo(inbox);
    request.setJMSCorrelationID("c-42");
    rs.createProducer(service).send(request);
    TextMessage reply = (TextMessage) need(inboxConsumer.receive(WAIT), "reply");
    out("reply", reply.getText() + " / " + reply.getJMSCorrelationID());
    inboxConsumer.close();
    inbox.delete();
    requester.close();
    replier.close();
  }

  static void browseSelectPull(String queue) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    Queue q = s.createQueue(queue);
    MessageProducer p = s.createProducer(q);
    for (int i = 1; i <= 4; i++) {
      TextMessage m = s.createTextMessage("b" + i);
      m.setIntProperty("n", i);
      p.send(m);
    }
    List<String> browsed = new ArrayList<>();
    Enumeration<?> e = s.createBrowser(q, "n > 1").getEnumeration();
    while (e.hasMoreElements()) browsed.add(((TextMessage) e.nextElement()).getText());
    out("browsed", String.join(",", browsed));
    // a consumer with prefetch 0 pulls each message
    Connection pullConnection = new ActiveMQConnectionFactory(url + (url.contains("?") ? "&" : "?") + "jms.prefetchPolicy.all=0").createConnection();
    pullConnection.start();
    Session ps = pullConnection.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageConsumer puller = ps.createConsumer(ps.createQueue(queue), "n <> 2");
    List<String> pulled = new ArrayList<>();
    Message m;
    while ((m = puller.receive(1000)) != null) pulled.add(((TextMessage) m).getText());
    out("pulled", String.join(",", pulled));
    out("noWait", String.valueOf(puller.receiveNoWait()));
    MessageConsumer rest = s.createConsumer(q);
    out("left", ((TextMessage) need(rest.receive(WAIT), "b2")).getText());
    try {
      s.createConsumer(q, "n >>> 1");
      out("badSelector", "accepted");
    } catch (InvalidSelectorException bad) {
      out("badSelector", "InvalidSelectorException");
    }
    pullConnection.close();
    c.close();
  }

  static void deadLetter(String queue) throws Exception {
    ActiveMQConnectionFactory f = new ActiveMQConnectionFactory(url);
    RedeliveryPolicy policy = new RedeliveryPolicy();
    policy.setMaximumRedeliveries(2);
    policy.setInitialRedeliveryDelay(0);
    policy.setRedeliveryDelay(0);
    f.setRedeliveryPolicy(policy);
    Connection c = f.createConnection();
    c.start();
    Session s = c.createSession(true, Session.SESSION_TRANSACTED);
    s.createProducer(s.createQueue(queue)).send(s.createTextMessage("poison " + queue));
    s.commit();
    MessageConsumer mc = s.createConsumer(s.createQueue(queue));
    int attempts = 0;
    while (mc.receive(2000) != null) {
      attempts++;
      s.rollback();
    }
    out("attempts", attempts);
    mc.close();
    Session ds = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageConsumer dc = ds.createConsumer(ds.createQueue("ActiveMQ.DLQ"), "JMSCorrelationID IS NULL");
    Message d;
    while ((d = dc.receive(WAIT)) != null) {
      if (((TextMessage) d).getText().equals("poison " + queue)) {
        out("cause", d.getStringProperty("dlqDeliveryFailureCause"));
        break;
      }
    }
    c.close();
  }

  static Xid xid(int n) {
    return new Xid() {
      public int getFormatId() { return 4660; }
      public byte[] getGlobalTransactionId() { return ("global-" + n).getBytes(); }
      public byte[] getBranchQualifier() { return ("branch-" + n).getBytes(); }
    };
  }

  /** Consumes one message and sends one, both in an XA transaction, and prepares it: then the caller kills the broker. */
  static void xaPrepare(String queue, int n) throws Exception {
    XAConnection c = new ActiveMQXAConnectionFactory(url).createXAConnection();
    c.start();
    XASession s = c.createXASession();
    XAResource r = s.getXAResource();
    Xid x = xid(n);
    r.start(x, XAResource.TMNOFLAGS);
    Message in = need(s.createConsumer(s.createQueue(queue + ".in")).receive(WAIT), "xa input");
    s.createProducer(s.createQueue(queue + ".out")).send(s.createTextMessage("made from " + ((TextMessage) in).getText()));
    r.end(x, XAResource.TMSUCCESS);
    out("prepare", r.prepare(x));
    System.out.flush();
  }

  static void xaRecover(String outcome) throws Exception {
    XAConnection c = new ActiveMQXAConnectionFactory(url).createXAConnection();
    c.start();
    XAResource r = c.createXASession().getXAResource();
    Xid[] prepared = r.recover(XAResource.TMSTARTRSCAN | XAResource.TMENDRSCAN);
    out("recovered", prepared.length);
    for (Xid x : prepared) {
      out("xid", x.getFormatId() + ":" + new String(x.getGlobalTransactionId()) + ":" + new String(x.getBranchQualifier()));
      if (outcome.equals("commit")) r.commit(x, false);
      else r.rollback(x);
    }
    out("after", r.recover(XAResource.TMSTARTRSCAN | XAResource.TMENDRSCAN).length);
    c.close();
  }

  static void count(String queue) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageConsumer mc = s.createConsumer(s.createQueue(queue));
    List<String> texts = new ArrayList<>();
    Message m;
    while ((m = mc.receive(1000)) != null) texts.add(m instanceof TextMessage ? ((TextMessage) m).getText() : m.getClass().getSimpleName());
    out("count", texts.size());
    out("texts", String.join(",", texts));
    c.close();
  }

  static void advisories(String queue) throws Exception {
    Connection a = connect();
    Session as = a.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageConsumer early = as.createConsumer(as.createQueue(queue));
    Connection b = connect();
    Session bs = b.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageConsumer watcher = bs.createConsumer(bs.createTopic("ActiveMQ.Advisory.Consumer.Queue." + queue));
    ActiveMQMessage added = (ActiveMQMessage) need(watcher.receive(WAIT), "consumer advisory");
    out("added", added.getDataStructure().getClass().getSimpleName() + " " + added.getIntProperty("consumerCount"));
    early.close();
    ActiveMQMessage removed = (ActiveMQMessage) need(watcher.receive(WAIT), "consumer removed advisory");
    out("removed", removed.getDataStructure().getClass().getSimpleName() + " " + removed.getIntProperty("consumerCount"));
    a.close();
    b.close();
  }

  /** Persistent numbered messages; with a `failover:` URL the test kills and restarts the broker meanwhile. */
  static void produce(String queue, int count, String progressEvery) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageProducer p = s.createProducer(s.createQueue(queue));
    p.setDeliveryMode(DeliveryMode.PERSISTENT);
    int every = progressEvery == null ? 0 : Integer.parseInt(progressEvery);
    for (int i = 1; i <= count; i++) {
      TextMessage m = s.createTextMessage(String.valueOf(i));
      p.send(m);
      if (every > 0 && i % every == 0) {
        out("sent", i);
        System.out.flush();
      }
    }
    out("done", count);
    c.close();
  }

  static void consume(String queue, int expected) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.CLIENT_ACKNOWLEDGE);
    MessageConsumer mc = s.createConsumer(s.createQueue(queue));
    Map<String, Integer> seen = new HashMap<>();
    int total = 0;
    Message m;
    while (total < expected * 2 && (m = mc.receive(3000)) != null) {
      seen.merge(((TextMessage) m).getText(), 1, Integer::sum);
      m.acknowledge();
      total++;
    }
    int missing = 0;
    for (int i = 1; i <= expected; i++) if (!seen.containsKey(String.valueOf(i))) missing++;
    int duplicates = 0;
    for (int n : seen.values()) duplicates += n - 1;
    out("received", total);
    out("missing", missing);
    out("duplicates", duplicates);
    c.close();
  }

  static void login(String user, String password, String queue) throws Exception {
    Connection c;
    try {
      c = new ActiveMQConnectionFactory(url).createConnection(user, password);
      c.start();
    } catch (JMSException e) {
      out("connect", e.getClass().getSimpleName());
      return;
    }
    out("connect", "ok");
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    try {
      s.createProducer(s.createQueue(queue)).send(s.createTextMessage("from " + user));
      out("send", "ok");
    } catch (JMSException e) {
      out("send", e.getClass().getSimpleName());
    }
    try {
      MessageConsumer mc = s.createConsumer(s.createQueue(queue));
      Message m = mc.receive(1000);
      out("receive", m == null ? "nothing" : ((TextMessage) m).getText());
    } catch (JMSException e) {
      out("receive", e.getClass().getSimpleName());
    }
    c.close();
  }

  static void groupsExclusive(String queue) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageConsumer exclusive = s.createConsumer(s.createQueue(queue + "?consumer.exclusive=true"));
    MessageConsumer other = s.createConsumer(s.createQueue(queue));
    MessageProducer p = s.createProducer(s.createQueue(queue));
    for (int i = 0; i < 4; i++) p.send(s.createTextMessage("e" + i));
    int toExclusive = 0;
    while (exclusive.receive(1000) != null) toExclusive++;
    out("exclusive", toExclusive + "/" + (other.receive(300) == null ? "none" : "some"));
    c.close();
  }
}
