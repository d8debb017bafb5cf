import java.net.HttpURLConnection;
import java.net.URL;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.jms.DeliveryMode;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.MessageProducer;
import javax.jms.Queue;
import javax.jms.Session;
import javax.jms.Topic;
import javax.jms.JMSException;
import javax.jms.TextMessage;
import javax.jms.Connection;
import org.apache.activemq.ActiveMQConnection;
import org.apache.activemq.ActiveMQConnectionFactory;
import org.apache.activemq.command.ActiveMQDestination;
import org.apache.activemq.advisory.DestinationSource;
import org.apache.activemq.command.ActiveMQMessage;
import org.apache.activemq.command.ActiveMQTopic;

/** Scenarios of where a message goes once the broker has it: scheduled deliveries, virtual topics, composite consumers, and what a consumer receiving them sees. */
final class Routes {
  private final JmsDriver d;
  private final String base;

  Routes(JmsDriver driver) {
    this.d = driver;
    this.base = driver.opt("dest", "interop");
  }

  /** False when `command` is not one of these scenarios. */
  boolean run(String command) throws Exception {
    switch (command) {
      case "scheduled-forward": scheduledForward(); return true;
      case "scheduled-ttl": scheduledTimeToLive(); return true;
      case "repeat-only": repeatOnly(); return true;
      case "virtual-topic-wildcard": virtualTopicWildcard(); return true;
      case "composite-consumer": compositeConsumer(); return true;
      case "virtual-topic-dead-letter": virtualTopicDeadLetter(); return true;
      case "destroy-destination": destroyDestination(); return true;
      case "close-without-ack": closeWithoutAck(); return true;
      case "deleted-queue-listener": deletedQueueListener(); return true;
      case "structured-send": structuredSend(); return true;
      default: return false;
    }
  }

  /**
   * A persistent TextMessage with no text (getText() null) to `--queue` (which may be composite,
   * `a,b`), with a Map and a List property (nested in each other) beside an int property: what
   * ActiveMQ's client allows through setObjectProperty. `receive` prints them as they came back.
   */
  private void structuredSend() throws Exception {
    try (JmsDriver.Conn c = d.connect()) {
      Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
      MessageProducer p = s.createProducer(s.createQueue(d.required("queue")));
      p.setDeliveryMode(DeliveryMode.PERSISTENT);
      Map<String, Object> inner = new LinkedHashMap<>();
      inner.put("deep", new ArrayList<Object>(List.of("z", 7L)));
      Map<String, Object> map = new LinkedHashMap<>();
      map.put("x", 1);
      map.put("inner", inner);
      List<Object> list = new ArrayList<>();
      list.add("p");
      list.add(2);
      list.add(new ArrayList<Object>(List.of((short) 3)));
      list.add(new LinkedHashMap<String, Object>(Map.of("k", "v")));
      TextMessage m = s.createTextMessage(null);
      m.setObjectProperty("pMap", map);
      m.setObjectProperty("pList", list);
      m.setIntProperty("pInt", 5);
      p.send(m);
      JmsDriver.emit("event", "sent", "id", m.getJMSMessageID());
    }
  }

  /**
   * ActiveMQConnection.destroyDestination on a queue: refused while it has a consumer, then taking
   * the queue and what waited in it; prints what happened at each step.
   */
  private void destroyDestination() throws Exception {
    ActiveMQConnection c = (ActiveMQConnection) d.factory(d.opt("options", "")).createConnection();
    try {
      c.start();
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".destroy");
      MessageProducer p = s.createProducer(q);
      p.send(s.createTextMessage("one"));
      p.send(s.createTextMessage("two"));
      MessageConsumer held = s.createConsumer(q, "never = 1");
      String withConsumer;
      try {
        c.destroyDestination((ActiveMQDestination) q);
        withConsumer = "deleted";
      } catch (JMSException err) {
        withConsumer = "refused";
      }
      held.close();
      c.destroyDestination((ActiveMQDestination) q);
      MessageConsumer after = s.createConsumer(q);
      Message left = after.receive(500);
      after.close();
      // a topic: its destination advisories say whether it is there
      Topic t = s.createTopic(base + ".destroy");
      DestinationSource source = c.getDestinationSource();
      MessageConsumer listening = s.createConsumer(t);
      s.createProducer(t).send(s.createTextMessage("to the topic"));
      boolean listedBefore = listsTopic(source, t, true);
      String topicWithConsumer;
      try {
        c.destroyDestination((ActiveMQDestination) t);
        topicWithConsumer = "deleted";
      } catch (JMSException err) {
        topicWithConsumer = "refused";
      }
      listening.close();
      c.destroyDestination((ActiveMQDestination) t);
      boolean listedAfter = listsTopic(source, t, false);
      JmsDriver.emit("event", "destroy-destination", "withConsumer", withConsumer, "leftAfterDelete", left == null ? "nothing" : ((TextMessage) left).getText(),
          "topicWithConsumer", topicWithConsumer, "topicListedBefore", listedBefore, "topicListedAfter", listedAfter);
    } finally {
      c.close();
    }
  }

  /** Whether the connection's DestinationSource lists `t`, waiting up to 5 s for it to become `expected`. */
  private static boolean listsTopic(DestinationSource source, Topic t, boolean expected) throws Exception {
    for (int i = 0; i < 50; i++) {
      boolean listed = false;
      for (ActiveMQTopic known : source.getTopics()) if (known.getTopicName().equals(t.getTopicName())) listed = true;
      if (listed == expected) return listed;
      Thread.sleep(100);
    }
    return !expected;
  }

  /**
   * A consumer that takes the message and closes without acknowledging it, nine times over, each on
   * a new connection, with the client's RedeliveryPolicy allowing `limit` redeliveries (-1: no
   * limit). Prints the delivery count each saw ("none" once nothing came) and whether the message
   * ended in the dead-letter queue.
   */
  private void closeWithoutAck() throws Exception {
    ActiveMQConnectionFactory f = d.factory(d.opt("options", ""));
    f.getRedeliveryPolicy().setMaximumRedeliveries(Integer.parseInt(d.required("limit")));
    String name = base + ".close-without-ack." + d.required("limit");
    List<Object> seen = new ArrayList<>();
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Message m = s.createTextMessage("taken and dropped");
      m.setStringProperty("round", name);
      s.createProducer(s.createQueue(name)).send(m);
      for (int i = 0; i < 9; i++) {
        Connection taker = f.createConnection();
        try {
          taker.start();
          Session ts = taker.createSession(false, Session.CLIENT_ACKNOWLEDGE);
          Message got = ts.createConsumer(ts.createQueue(name)).receive(1000);
          seen.add(got == null ? "none" : String.valueOf(got.getIntProperty("JMSXDeliveryCount")));
        } finally {
          taker.close();
        }
      }
      Message dead = s.createConsumer(s.createQueue("ActiveMQ.DLQ"), "round = '" + name + "'").receive(1000);
      JmsDriver.emit("event", "close-without-ack", "deliveryCounts", seen, "deadLettered", dead != null);
    }
  }

  private static List<Object> propertyNames(Message m) throws Exception {
    List<String> names = new ArrayList<>();
    for (Enumeration<?> e = m.getPropertyNames(); e.hasMoreElements(); ) names.add((String) e.nextElement());
    Collections.sort(names);
    return new ArrayList<>(names);
  }

  /**
   * A router receives scheduled deliveries and forwards each received Message object to another
   * queue, as bridges and integration routes do; prints what each delivery carried and what arrived downstream.
   */
  private void scheduledForward() throws Exception {
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue in = s.createQueue(base + ".sched-fwd.in");
      Queue out = s.createQueue(base + ".sched-fwd.out");
      MessageProducer p = s.createProducer(in);
      Message delayed = s.createTextMessage("delayed");
      delayed.setLongProperty("AMQ_SCHEDULED_DELAY", 500);
      delayed.setStringProperty("kept", "yes");
      p.send(delayed);
      Message repeated = s.createTextMessage("repeated");
      repeated.setLongProperty("AMQ_SCHEDULED_DELAY", 200);
      repeated.setLongProperty("AMQ_SCHEDULED_PERIOD", 200);
      repeated.setIntProperty("AMQ_SCHEDULED_REPEAT", 2);
      p.send(repeated);
      MessageProducer forward = s.createProducer(out);
      List<Object> deliveries = new ArrayList<>();
      for (Message m : d.receive(s.createConsumer(in), 4)) {
        Map<String, Object> line = new LinkedHashMap<>();
        String body = (String) Messages.body(m);
        line.put("body", body);
        line.put("properties", propertyNames(m));
        line.put("jobId", m.getStringProperty("scheduledJobId"));
        deliveries.add(line);
        forward.send(m);
      }
      Map<String, Object> arrived = new TreeMap<>();
      for (Message m : d.drain(s.createConsumer(out))) arrived.merge((String) Messages.body(m), 1, (a, b) -> (Integer) a + (Integer) b);
      JmsDriver.emit("event", "scheduled-forward", "deliveries", deliveries, "arrived", arrived);
    }
  }

  /**
   * A message with AMQ_SCHEDULED_REPEAT and neither a delay, a period nor a cron: prints each
   * delivery's body and scheduledJobId (null when it did not pass through the scheduler).
   */
  private void repeatOnly() throws Exception {
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".repeat-only");
      Message m = s.createTextMessage("once");
      m.setIntProperty("AMQ_SCHEDULED_REPEAT", 3);
      s.createProducer(q).send(m);
      List<Object> deliveries = new ArrayList<>();
      for (Message got : d.drain(s.createConsumer(q))) deliveries.add(Messages.body(got) + " job " + got.getStringProperty("scheduledJobId"));
      JmsDriver.emit("event", "repeat-only", "deliveries", deliveries);
    }
  }

  /**
   * Scheduled messages whose time to live is shorter than their delay, or than their last repeat:
   * prints each delivery with its time to live as delivered (expiration less timestamp), and
   * whether a message without one keeps the timestamp of its send.
   */
  private void scheduledTimeToLive() throws Exception {
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".sched-ttl");
      MessageProducer p = s.createProducer(q);
      Message delayed = s.createTextMessage("delayed");
      delayed.setLongProperty("AMQ_SCHEDULED_DELAY", 1500);
      p.send(delayed, DeliveryMode.PERSISTENT, 4, 1000);
      Message repeated = s.createTextMessage("repeated");
      repeated.setLongProperty("AMQ_SCHEDULED_PERIOD", 700);
      repeated.setIntProperty("AMQ_SCHEDULED_REPEAT", 3);
      p.send(repeated, DeliveryMode.PERSISTENT, 4, 1000);
      Message forever = s.createTextMessage("forever");
      forever.setLongProperty("AMQ_SCHEDULED_DELAY", 300);
      p.send(forever);
      List<String> deliveries = new ArrayList<>();
      boolean foreverKeptTimestamp = false;
      for (Message m : d.drain(s.createConsumer(q))) {
        String body = (String) Messages.body(m);
        deliveries.add(body + " ttl " + (m.getJMSExpiration() == 0 ? "none" : Long.toString(m.getJMSExpiration() - m.getJMSTimestamp())));
        if (body.equals("forever")) foreverKeptTimestamp = m.getJMSTimestamp() == forever.getJMSTimestamp();
      }
      Collections.sort(deliveries);
      JmsDriver.emit("event", "scheduled-ttl", "deliveries", deliveries, "foreverKeptTimestamp", foreverKeptTimestamp);
    }
  }

  /**
   * A group consuming every virtual topic under a name (`Consumer.E.VirtualTopic.T.>`) beside a group
   * on one of them; then what is published while the wildcard group has no consumer, once it has one again.
   */
  private void virtualTopicWildcard() throws Exception {
    String topic = "VirtualTopic." + base + ".vtw";
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue wildcard = s.createQueue("Consumer.E." + topic + ".>");
      MessageConsumer e = s.createConsumer(wildcard);
      MessageConsumer f = s.createConsumer(s.createQueue("Consumer.F." + topic + ".foo"));
      MessageProducer p = s.createProducer(null);
      for (String t : new String[] {"foo", "bar", "baz.qux"}) p.send(s.createTopic(topic + "." + t), s.createTextMessage(t));
      List<String> wildcardGot = new ArrayList<>();
      List<String> destinations = new ArrayList<>();
      for (Message m : d.drain(e)) {
        wildcardGot.add((String) Messages.body(m));
        destinations.add(Messages.destination(m.getJMSDestination()));
      }
      Collections.sort(wildcardGot);
      List<Object> plainGot = JmsDriver.bodies(d.drain(f));
      e.close();
      p.send(s.createTopic(topic + ".bar"), s.createTextMessage("while away"));
      List<Object> afterReturn = JmsDriver.bodies(d.drain(s.createConsumer(wildcard)));
      JmsDriver.emit("event", "virtual-topic-wildcard", "wildcard", wildcardGot, "destinations", destinations, "plain", plainGot, "afterReturn", afterReturn);
    }
  }

  /** Each received message as `body@destination`, sorted: a composite consumer's parts have no order between them. */
  private List<String> arrivals(MessageConsumer consumer) throws Exception {
    List<String> got = new ArrayList<>();
    for (Message m : d.drain(consumer)) got.add(Messages.body(m) + "@" + Messages.destination(m.getJMSDestination()));
    Collections.sort(got);
    return got;
  }

  /** Consumers on composite destinations: two queues, two topics, a queue and a topic; each takes from every part. */
  private void compositeConsumer() throws Exception {
    String p = base + ".cc";
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      MessageConsumer queues = s.createConsumer(s.createQueue(p + ".a," + p + ".b"));
      MessageConsumer topics = s.createConsumer(s.createTopic(p + ".t1," + p + ".t2"));
      MessageConsumer mixed = s.createConsumer(s.createQueue(p + ".m,topic://" + p + ".mt"));
      MessageProducer any = s.createProducer(null);
      any.send(s.createQueue(p + ".a"), s.createTextMessage("toA"));
      any.send(s.createQueue(p + ".b"), s.createTextMessage("toB"));
      any.send(s.createTopic(p + ".t1"), s.createTextMessage("toT1"));
      any.send(s.createTopic(p + ".t2"), s.createTextMessage("toT2"));
      any.send(s.createQueue(p + ".m"), s.createTextMessage("toM"));
      any.send(s.createTopic(p + ".mt"), s.createTextMessage("toMT"));
      Session tx = JmsDriver.session(c, Session.SESSION_TRANSACTED);
      MessageProducer both = tx.createProducer(tx.createQueue(p + ".a," + p + ".b"));
      both.send(tx.createTextMessage("rolledBack"));
      tx.rollback();
      both.send(tx.createTextMessage("committed"));
      tx.commit();
      JmsDriver.emit("event", "composite-consumer", "queues", arrivals(queues), "topics", arrivals(topics), "mixed", arrivals(mixed));
    }
  }

  /**
   * Group A of a virtual topic rolls a message back past its redelivery policy while group B takes it:
   * prints where A's copy says it is and came from, and where its dead letter says it came from.
   */
  private void virtualTopicDeadLetter() throws Exception {
    String topic = "VirtualTopic." + base + ".vtd";
    String tag = base + "-vtd";
    String options = "jms.redeliveryPolicy.maximumRedeliveries=1&jms.redeliveryPolicy.initialRedeliveryDelay=0&jms.redeliveryPolicy.redeliveryDelay=0";
    try (JmsDriver.Conn c = d.connect(options, null)) {
      Session tx = JmsDriver.session(c, Session.SESSION_TRANSACTED);
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      MessageConsumer a = tx.createConsumer(tx.createQueue("Consumer.A." + topic));
      MessageConsumer b = s.createConsumer(s.createQueue("Consumer.B." + topic));
      Message poison = s.createTextMessage("poison");
      poison.setStringProperty("tag", tag);
      s.createProducer(s.createTopic(topic)).send(poison);
      List<Object> groupB = JmsDriver.bodies(d.receive(b, 1));
      Message first = d.receive(a, 1).get(0);
      String destination = Messages.destination(first.getJMSDestination());
      String original = Messages.destination(((ActiveMQMessage) first).getOriginalDestination());
      tx.rollback();
      for (Message again = a.receive(d.timeout); again != null; again = a.receive(d.quiet)) tx.rollback();
      Message dead = d.receive(s.createConsumer(s.createQueue(d.opt("dlq", "ActiveMQ.DLQ")), "tag = '" + tag + "'"), 1).get(0);
      JmsDriver.emit("event", "virtual-topic-dead-letter", "groupB", groupB, "destination", destination, "originalDestination", original,
          "deadLetterOrigin", Messages.destination(((ActiveMQMessage) dead).getOriginalDestination()));
    }
  }

  /**
   * A listener on a queue that an operator deletes while it listens (`--delete` is the URL that
   * deletes it, with the HTTP method DELETE): prints the status of the delete, what the listener
   * received of `--count` messages sent after it, and what the connection's ExceptionListener heard.
   */
  private void deletedQueueListener() throws Exception {
    int count = d.count();
    try (JmsDriver.Conn c = d.connect()) {
      List<Object> errors = Collections.synchronizedList(new ArrayList<>());
      c.setExceptionListener((e) -> errors.add(String.valueOf(e.getMessage())));
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(d.required("queue"));
      Scenarios.Arrivals arrivals = new Scenarios.Arrivals();
      Scenarios.Collector collector = new Scenarios.Collector(arrivals);
      s.createConsumer(q).setMessageListener(collector);
      MessageProducer p = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE).createProducer(q);
      p.send(s.createTextMessage("before"));
      arrivals.await(1, d.timeout);
      HttpURLConnection http = (HttpURLConnection) new URL(d.required("delete")).openConnection();
      http.setRequestMethod("DELETE");
      int status = http.getResponseCode();
      http.disconnect();
      for (int i = 0; i < count; i++) p.send(s.createTextMessage("after " + i));
      try {
        arrivals.await(1 + count, d.timeout);
      } catch (IllegalStateException notAll) {
        // what did arrive is printed, for the test to judge
      }
      JmsDriver.emit("event", "deleted-queue-listener", "status", status, "received", collector.bodies(), "exceptions", new ArrayList<>(errors));
    }
  }
}
