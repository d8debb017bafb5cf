import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import javax.jms.*;
import org.apache.activemq.ActiveMQConnectionFactory;
import org.apache.activemq.ActiveMQMessageConsumer;
import org.apache.activemq.ScheduledMessage;
import org.apache.activemq.command.ActiveMQMessage;

/**
 * ActiveMQ's own JMS client where Ferry's other protocols and its own features meet JMS (advisories,
 * STOMP both ways, rights per destination, a refused selector), one check per invocation:
 * `java JmsChecks <url> <check> [args...]`; the JMS behaviour itself is tested by
 * test/interop/openwire/ against Ferry and ActiveMQ alike. Each check prints what it saw as JSON lines
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
        case "count": count(rest[0]); break;
        case "advisories": advisories(rest[0]); break;
        case "produce": produce(rest[0], Integer.parseInt(rest[1]), rest.length > 2 ? rest[2] : null); break;
        case "login": login(rest[0], rest[1], rest[2]); break;
        case "bad-selector": badSelector(rest[0]); break;
        case "scheduler": scheduler(rest[0]); break;
        case "describe": describe(rest[0], Arrays.copyOfRange(rest, 1, rest.length)); break;
        case "ack-waiting": ackWaiting(rest[0], Integer.parseInt(rest[1])); break;
        case "typed-send": typedSend(rest[0]); break;
        case "typed-read": typedRead(rest[0], Integer.parseInt(rest[1])); break;
        case "durable-subscribe": durableSubscribe(rest[0], rest[1], rest[2], rest.length > 3 ? rest[3] : null); break;
        case "temporary-topics": temporaryTopics(Integer.parseInt(rest[0])); break;
        case "send-claiming": sendClaiming(rest[0], rest[1], rest[2]); break;
        case "read-user": readUser(rest[0]); break;
        case "send-kinds": sendKinds(rest[0]); break;
        case "read-kinds": readKinds(rest[0], Integer.parseInt(rest[1])); break;
        case "send-numbered": sendNumbered(rest[0], Integer.parseInt(rest[1])); break;
        case "selected": selected(rest[0], rest[1], Integer.parseInt(rest[2])); break;
        case "send-compressed": sendCompressed(rest[0]); break;
        case "send-retained": sendRetained(rest[0], rest[1], Boolean.parseBoolean(rest[2])); break;
        case "expire-in-prefetch": expireInPrefetch(rest[0], Integer.parseInt(rest[1]), Long.parseLong(rest[2])); break;
        case "read-headers": readHeaders(rest[0], Integer.parseInt(rest[1])); break;
        case "reply": reply(rest[0]); break;
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

  /** One message of the queue: how long its JMS headers are (or null), its JMSReplyTo, and each named property's class, value and whether it reads as a long. */
  static void describe(String queue, String[] properties) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    Message m = need(s.createConsumer(s.createQueue(queue)).receive(WAIT), queue);
    out("correlationId", m.getJMSCorrelationID() == null ? "null" : "length " + m.getJMSCorrelationID().length());
    out("type", m.getJMSType() == null ? "null" : "length " + m.getJMSType().length());
    out("messageId", m.getJMSMessageID() == null ? "null" : m.getJMSMessageID().length() < 0x10000 ? "fits" : "too long");
    out("replyTo", String.valueOf(m.getJMSReplyTo()));
    for (String p : properties) {
      Object value = m.getObjectProperty(p);
      out(p, value == null ? "null" : value.getClass().getSimpleName() + ":" + value);
      try {
        out(p + ".long", m.getLongProperty(p));
      } catch (MessageFormatException | NumberFormatException e) {
        // a string that is no number: JMS throws NumberFormatException for it
        out(p + ".long", e.getClass().getSimpleName());
      }
    }
    c.close();
  }

  /** `count` messages of the queue: the JMS headers a producer may set, as JMS reads them. */
  static void readHeaders(String queue, int count) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageConsumer mc = s.createConsumer(s.createQueue(queue));
    for (int i = 0; i < count; i++) {
      Message m = need(mc.receive(WAIT), queue);
      out(i + ".correlationId", m.getJMSCorrelationID());
      out(i + ".type", m.getJMSType());
      out(i + ".priority", m.getJMSPriority());
      out(i + ".groupId", m.getStringProperty("JMSXGroupID"));
      out(i + ".groupSeq", m.getIntProperty("JMSXGroupSeq"));
    }
    c.close();
  }

  /**
   * A TextMessage whose JMSXUserID the producer set to `claimed`: as a property (`how` "property"), or
   * in the OpenWire message's userID field, which a broker with populateJMSXUserID fills (`how` "field").
   */
  static void sendClaiming(String queue, String how, String claimed) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    Message m = s.createTextMessage("claiming " + claimed);
    if (how.equals("field")) ((ActiveMQMessage) m).setUserID(claimed);
    else m.setStringProperty("JMSXUserID", claimed);
    s.createProducer(s.createQueue(queue)).send(m);
    out("sent", claimed);
    c.close();
  }

  /** One message of the queue: its JMSXUserID as JMS reads it. */
  static void readUser(String queue) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    Message m = need(s.createConsumer(s.createQueue(queue)).receive(WAIT), queue);
    out("JMSXUserID", m.getStringProperty("JMSXUserID"));
    c.close();
  }

  /**
   * From a client that compresses (`jms.useCompression=true`), to `queue` and `queue`.jms at once: a
   * short text, a text of 3,000,000 characters and a BytesMessage of 2,000,000 bytes (each deflates
   * to a few KB); then each as a JMS consumer of `queue`.jms reads it: its body's length and SHA-256.
   */
  static void sendCompressed(String queue) throws Exception {
    Connection c = new ActiveMQConnectionFactory(url + "?jms.useCompression=true").createConnection();
    c.start();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageProducer p = s.createProducer(s.createQueue(queue + "," + queue + ".jms"));
    p.send(s.createTextMessage("compressed text"));
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < 3_000_000; i++) text.append((char) ('a' + i % 26));
    p.send(s.createTextMessage(text.toString()));
    byte[] bytes = new byte[2_000_000];
    for (int i = 0; i < bytes.length; i++) bytes[i] = (byte) (i % 251);
    BytesMessage b = s.createBytesMessage();
    b.writeBytes(bytes);
    p.send(b);
    MessageConsumer mc = s.createConsumer(s.createQueue(queue + ".jms"));
    for (int i = 0; i < 3; i++) {
      Message m = need(mc.receive(WAIT), "compressed message " + i);
      byte[] body;
      if (m instanceof TextMessage) body = ((TextMessage) m).getText().getBytes(java.nio.charset.StandardCharsets.UTF_8);
      else {
        body = new byte[(int) ((BytesMessage) m).getBodyLength()];
        ((BytesMessage) m).readBytes(body);
      }
      StringBuilder hex = new StringBuilder();
      for (byte x : java.security.MessageDigest.getInstance("SHA-256").digest(body)) hex.append(String.format("%02x", x));
      out("jms", body.length + " " + hex);
    }
    c.close();
  }

  /** A MapMessage, then a StreamMessage, each with one value of every JMS type. */
  static void typedSend(String queue) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageProducer p = s.createProducer(s.createQueue(queue));
    MapMessage map = s.createMapMessage();
    map.setBoolean("aBoolean", true);
    map.setByte("aByte", (byte) 7);
    map.setShort("aShort", (short) 300);
    map.setChar("aChar", 'x');
    map.setInt("anInt", 70000);
    map.setLong("aLong", 5000000000L);
    map.setFloat("aFloat", 1.5f);
    map.setDouble("aDouble", 2.25);
    map.setString("aString", "text");
    map.setBytes("someBytes", new byte[] {1, 2});
    p.send(map);
    StreamMessage stream = s.createStreamMessage();
    stream.writeBoolean(true);
    stream.writeByte((byte) 7);
    stream.writeShort((short) 300);
    stream.writeChar('x');
    stream.writeInt(70000);
    stream.writeLong(5000000000L);
    stream.writeFloat(1.5f);
    stream.writeDouble(2.25);
    stream.writeString("text");
    stream.writeBytes(new byte[] {1, 2});
    p.send(stream);
    c.close();
  }

  static String typed(Object value) {
    if (value == null) return "null";
    String text = value instanceof byte[] ? Arrays.toString((byte[]) value) : value.toString();
    return value.getClass().getSimpleName() + ":" + text;
  }

  /** Prints each of `count` messages' JMS type and its map entries or stream items, each with its Java class. */
  static void typedRead(String queue, int count) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageConsumer mc = s.createConsumer(s.createQueue(queue));
    for (int i = 0; i < count; i++) {
      Message m = need(mc.receive(WAIT), queue);
      if (m instanceof MapMessage) {
        MapMessage map = (MapMessage) m;
        List<String> names = new ArrayList<>();
        for (java.util.Enumeration<?> e = map.getMapNames(); e.hasMoreElements(); ) names.add((String) e.nextElement());
        java.util.Collections.sort(names);
        out(i + ".type", "MapMessage");
        for (String name : names) out(i + "." + name, typed(map.getObject(name)));
      } else if (m instanceof StreamMessage) {
        StreamMessage stream = (StreamMessage) m;
        out(i + ".type", "StreamMessage");
        for (int item = 0; ; item++) {
          try {
            out(i + "." + item, typed(stream.readObject()));
          } catch (MessageEOFException end) {
            break;
          }
        }
      } else out(i + ".type", m.getClass().getSimpleName());
    }
    c.close();
  }

  /** Takes `count` messages with CLIENT_ACKNOWLEDGE and acknowledges them, waiting for the broker's answer (jms.sendAcksAsync=false). */
  static void ackWaiting(String queue, int count) throws Exception {
    ActiveMQConnectionFactory factory = new ActiveMQConnectionFactory(url);
    factory.setSendAcksAsync(false);
    Connection c = factory.createConnection();
    c.start();
    Session s = c.createSession(false, Session.CLIENT_ACKNOWLEDGE);
    MessageConsumer mc = s.createConsumer(s.createQueue(queue));
    Message last = null;
    for (int i = 0; i < count; i++) last = need(mc.receive(WAIT), queue);
    last.acknowledge();
    out("acknowledged", count);
    System.out.flush();
    // the answer came: the process ends without closing, as if it were killed
    Runtime.getRuntime().halt(0);
  }

  /**
   * `cycles` temporary topics made, used (a message out and back) and deleted on one connection,
   * then as many left for a second connection's close to take; prints how many messages came back.
   */
  static void temporaryTopics(int cycles) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    int received = 0;
    for (int i = 0; i < cycles; i++) {
      TemporaryTopic topic = s.createTemporaryTopic();
      MessageConsumer mc = s.createConsumer(topic);
      MessageProducer p = s.createProducer(topic);
      p.send(s.createTextMessage("event " + i));
      need(mc.receive(WAIT), topic.getTopicName());
      received++;
      mc.close();
      p.close();
      topic.delete();
    }
    c.close();
    Connection left = connect();
    Session ls = left.createSession(false, Session.AUTO_ACKNOWLEDGE);
    for (int i = 0; i < cycles; i++) {
      TemporaryTopic topic = ls.createTemporaryTopic();
      MessageConsumer mc = ls.createConsumer(topic);
      ls.createProducer(topic).send(ls.createTextMessage("event " + i));
      need(mc.receive(WAIT), topic.getTopicName());
      received++;
    }
    left.close();
    out("received", received);
  }

  /** Makes a durable subscription as `clientId`, or, with `receiveOne`, resumes it and prints the message it holds. */
  static void durableSubscribe(String topic, String clientId, String name, String receiveOne) throws Exception {
    ActiveMQConnectionFactory factory = new ActiveMQConnectionFactory(url);
    Connection c = factory.createConnection();
    c.setClientID(clientId);
    c.start();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    TopicSubscriber sub = s.createDurableSubscriber(s.createTopic(topic), name);
    if (receiveOne == null) {
      out("subscribed", name);
      System.out.flush();
      Runtime.getRuntime().halt(0);
    }
    Message m = need(sub.receive(WAIT), topic);
    if (m instanceof TextMessage) out("received", ((TextMessage) m).getText());
    else {
      byte[] body = new byte[(int) ((BytesMessage) m).getBodyLength()];
      ((BytesMessage) m).readBytes(body);
      out("received", new String(body, java.nio.charset.StandardCharsets.UTF_8));
    }
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

  /** Persistent numbered messages. */
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

  static void badSelector(String queue) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    try {
      s.createConsumer(s.createQueue(queue), "n >>> 1");
      out("badSelector", "accepted");
    } catch (InvalidSelectorException bad) {
      out("badSelector", "InvalidSelectorException");
    }
    // the connection carries on
    s.createProducer(s.createQueue(queue)).send(s.createTextMessage("still here"));
    out("after", ((TextMessage) need(s.createConsumer(s.createQueue(queue)).receive(WAIT), "after a refused selector")).getText());
    c.close();
  }

  /**
   * ActiveMQ's scheduler management as its documentation shows it, with the client's own constants:
   * two delayed messages, BROWSE to a temporary queue (each reply has its scheduledJobId), REMOVE
   * one by id, browse again, REMOVEALL, browse again.
   */
  static void scheduler(String queue) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageProducer producer = s.createProducer(s.createQueue(queue));
    for (String text : new String[] {"first", "second"}) {
      TextMessage m = s.createTextMessage(text);
      m.setLongProperty(ScheduledMessage.AMQ_SCHEDULED_DELAY, 3_600_000L);
      producer.send(m);
    }
    Destination management = s.createTopic(ScheduledMessage.AMQ_SCHEDULER_MANAGEMENT_DESTINATION);
    MessageProducer requests = s.createProducer(management);
    TemporaryQueue replies = s.createTemporaryQueue();
    MessageConsumer browser = s.createConsumer(replies);
    List<String> ids = browseJobs(s, requests, replies, browser, "browse");
    Message remove = s.createMessage();
    remove.setStringProperty(ScheduledMessage.AMQ_SCHEDULER_ACTION, ScheduledMessage.AMQ_SCHEDULER_ACTION_REMOVE);
    remove.setStringProperty(ScheduledMessage.AMQ_SCHEDULED_ID, ids.get(0));
    requests.send(remove);
    browseJobs(s, requests, replies, browser, "afterRemove");
    Message removeAll = s.createMessage();
    removeAll.setStringProperty(ScheduledMessage.AMQ_SCHEDULER_ACTION, ScheduledMessage.AMQ_SCHEDULER_ACTION_REMOVEALL);
    requests.send(removeAll);
    browseJobs(s, requests, replies, browser, "afterRemoveAll");
    c.close();
  }

  /** Asks for a BROWSE and prints the texts of the jobs that come back; returns their ids. */
  static List<String> browseJobs(Session s, MessageProducer requests, TemporaryQueue replies, MessageConsumer browser, String key) throws Exception {
    Message request = s.createMessage();
    request.setStringProperty(ScheduledMessage.AMQ_SCHEDULER_ACTION, ScheduledMessage.AMQ_SCHEDULER_ACTION_BROWSE);
    request.setJMSReplyTo(replies);
    requests.send(request);
    List<String> texts = new ArrayList<>();
    List<String> ids = new ArrayList<>();
    Message m;
    while ((m = browser.receive(1000)) != null) {
      texts.add(((TextMessage) m).getText());
      ids.add(m.getStringProperty(ScheduledMessage.AMQ_SCHEDULED_ID));
    }
    out(key, String.join(",", texts));
    out(key + "Ids", ids.stream().allMatch(id -> id != null && !id.isEmpty()));
    return ids;
  }

  /** `queue:NAME` or `topic:NAME`. */
  static Destination destination(Session s, String named) throws JMSException {
    return named.startsWith("topic:") ? s.createTopic(named.substring(6)) : s.createQueue(named.substring(named.indexOf(':') + 1));
  }

  /**
   * A TextMessage with a property of every JMS type, then a MapMessage, an ObjectMessage, a
   * StreamMessage, a plain Message and a BytesMessage; prints each one's JMSMessageID as `id.N`.
   */
  static void sendKinds(String queue) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageProducer p = s.createProducer(s.createQueue(queue));
    TextMessage text = s.createTextMessage("typed");
    text.setIntProperty("anInt", 42);
    text.setLongProperty("aLong", 5000000000L);
    text.setBooleanProperty("aBoolean", true);
    text.setByteProperty("aByte", (byte) 7);
    text.setShortProperty("aShort", (short) 300);
    text.setFloatProperty("aFloat", 1.5f);
    text.setDoubleProperty("aDouble", 2.25);
    text.setStringProperty("aString", "text");
    MapMessage map = s.createMapMessage();
    map.setInt("anInt", 70000);
    map.setString("aString", "in a map");
    ObjectMessage object = s.createObjectMessage(new java.util.ArrayList<>(Arrays.asList("an", "object")));
    StreamMessage stream = s.createStreamMessage();
    stream.writeInt(70000);
    stream.writeString("in a stream");
    Message plain = s.createMessage();
    plain.setStringProperty("aString", "no body");
    BytesMessage bytes = s.createBytesMessage();
    bytes.writeBytes(new byte[] {1, 2, 3});
    Message[] all = {text, map, object, stream, plain, bytes};
    for (int i = 0; i < all.length; i++) {
      p.send(all[i]);
      out("id." + i, all[i].getJMSMessageID());
    }
    c.close();
  }

  /** Each of `count` messages: its class as `N.class`, JMSMessageID as `N.id`, body as `N.body`, and its properties, sorted, as `N.properties`. */
  static void readKinds(String queue, int count) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageConsumer mc = s.createConsumer(s.createQueue(queue));
    for (int i = 0; i < count; i++) {
      Message m = need(mc.receive(WAIT), queue);
      String kind = m instanceof TextMessage ? "TextMessage" : m instanceof MapMessage ? "MapMessage" : m instanceof ObjectMessage ? "ObjectMessage"
          : m instanceof StreamMessage ? "StreamMessage" : m instanceof BytesMessage ? "BytesMessage" : "Message";
      out(i + ".class", kind);
      out(i + ".id", m.getJMSMessageID());
      String body = "";
      if (m instanceof TextMessage) body = ((TextMessage) m).getText();
      else if (m instanceof MapMessage) body = ((MapMessage) m).getInt("anInt") + " " + ((MapMessage) m).getString("aString");
      else if (m instanceof ObjectMessage) body = String.valueOf(((ObjectMessage) m).getObject());
      else if (m instanceof StreamMessage) body = ((StreamMessage) m).readInt() + " " + ((StreamMessage) m).readString();
      else if (m instanceof BytesMessage) body = "length " + ((BytesMessage) m).getBodyLength();
      out(i + ".body", body);
      List<String> properties = new ArrayList<>();
      for (java.util.Enumeration<?> e = m.getPropertyNames(); e.hasMoreElements(); ) {
        String name = (String) e.nextElement();
        properties.add(name + "=" + typed(m.getObjectProperty(name)));
      }
      java.util.Collections.sort(properties);
      out(i + ".properties", String.join(",", properties));
    }
    c.close();
  }

  /** `count` TextMessages `0`..`count-1`, each with the int property `ip` its number and the boolean `flag` whether it is even. */
  static void sendNumbered(String named, int count) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageProducer p = s.createProducer(destination(s, named));
    for (int i = 0; i < count; i++) {
      TextMessage m = s.createTextMessage(String.valueOf(i));
      m.setIntProperty("ip", i);
      m.setBooleanProperty("flag", i % 2 == 0);
      p.send(m);
    }
    out("sent", count);
    c.close();
  }

  /** A TextMessage that asks to be retained by ActiveMQ's boolean property, sent alone or in a transaction committed after it. */
  static void sendRetained(String named, String text, boolean transacted) throws Exception {
    Connection c = connect();
    Session s = c.createSession(transacted, transacted ? Session.SESSION_TRANSACTED : Session.AUTO_ACKNOWLEDGE);
    MessageProducer p = s.createProducer(destination(s, named));
    TextMessage m = s.createTextMessage(text);
    m.setBooleanProperty("ActiveMQ.Retain", true);
    p.send(m);
    if (transacted) s.commit();
    out("sent", text);
    c.close();
  }

  /** A consumer with `selector` (prints `ready` once it is open) takes `count` messages and prints their texts, then makes sure no more come. */
  static void selected(String named, String selector, int count) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageConsumer mc = s.createConsumer(destination(s, named), selector);
    out("ready", true);
    System.out.flush();
    List<String> texts = new ArrayList<>();
    for (int i = 0; i < count; i++) texts.add(((TextMessage) need(mc.receive(3 * WAIT), named + " with " + selector)).getText());
    java.util.Collections.sort(texts);
    out("texts", String.join(",", texts));
    out("more", mc.receive(1000) != null);
    c.close();
  }

  /**
   * `persistent` persistent TextMessages and one non-persistent, each with a time to live of `ttl` ms,
   * go into a consumer's prefetch and expire there: receive() then drops each and acknowledges it to
   * the broker as expired (ActiveMQ's expired acknowledgement). Prints what receive() returned.
   */
  static void expireInPrefetch(String queue, int persistent, long ttl) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    Queue q = s.createQueue(queue);
    ActiveMQMessageConsumer mc = (ActiveMQMessageConsumer) s.createConsumer(q);
    MessageProducer p = s.createProducer(q);
    p.setTimeToLive(ttl);
    long expiration = 0;
    for (int i = 0; i <= persistent; i++) {
      p.setDeliveryMode(i < persistent ? DeliveryMode.PERSISTENT : DeliveryMode.NON_PERSISTENT);
      Message m = s.createTextMessage("expiring " + i);
      p.send(m);
      expiration = Math.max(expiration, m.getJMSExpiration());
    }
    long deadline = System.currentTimeMillis() + WAIT;
    while (mc.getMessageSize() < persistent + 1) {
      if (System.currentTimeMillis() > deadline) throw new java.lang.IllegalStateException("only " + mc.getMessageSize() + " messages reached the prefetch within " + WAIT + " ms");
      Thread.sleep(10);
    }
    // the client judges expiry by its own clock, the one that stamped JMSExpiration
    while (System.currentTimeMillis() <= expiration) Thread.sleep(Math.max(1, expiration + 1 - System.currentTimeMillis()));
    out("received", String.valueOf(mc.receiveNoWait()));
    c.close();
  }

  /** A responder: takes one request from `queue` and replies to its JMSReplyTo (persistent, so the send waits for the broker's answer); prints the reply-to and what the send did. */
  static void reply(String queue) throws Exception {
    Connection c = connect();
    Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
    Message request = need(s.createConsumer(s.createQueue(queue)).receive(WAIT), queue);
    out("replyTo", String.valueOf(request.getJMSReplyTo()));
    MessageProducer p = s.createProducer(null);
    p.setDeliveryMode(DeliveryMode.PERSISTENT);
    Message reply = s.createTextMessage("reply");
    reply.setJMSCorrelationID(request.getJMSCorrelationID());
    try {
      p.send(request.getJMSReplyTo(), reply);
      out("sent", true);
    } catch (JMSException e) {
      out("refused", e.getClass().getSimpleName());
    }
    c.close();
  }
}
