import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.Session;
import javax.jms.Topic;
import org.apache.activemq.ActiveMQConnection;
import org.apache.activemq.advisory.AdvisorySupport;
import org.apache.activemq.command.ActiveMQMessage;
import org.apache.activemq.command.BrokerInfo;
import org.apache.activemq.command.ConnectionId;
import org.apache.activemq.command.ConnectionInfo;
import org.apache.activemq.command.ConsumerInfo;
import org.apache.activemq.command.DataStructure;
import org.apache.activemq.command.RemoveSubscriptionInfo;

/** Scenarios of what advisories say about the broker that sends them and about consumers. */
final class ConsumerAdvisories {
  private final JmsDriver d;
  private final String base;

  ConsumerAdvisories(JmsDriver driver) {
    this.d = driver;
    this.base = driver.opt("dest", "interop");
  }

  /** False when `command` is not one of these scenarios. */
  boolean run(String command) throws Exception {
    switch (command) {
      case "advisory-origin": origin(); return true;
      case "durable-advisories": durables(); return true;
      case "wildcard-advisories": wildcards(); return true;
      case "watch-advisories": watch(); return true;
      default: return false;
    }
  }

  /** The three origin properties of an advisory. */
  private static Map<String, Object> originOf(Message advisory) throws Exception {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("originBrokerId", advisory.getStringProperty(AdvisorySupport.MSG_PROPERTY_ORIGIN_BROKER_ID));
    out.put("originBrokerName", advisory.getStringProperty(AdvisorySupport.MSG_PROPERTY_ORIGIN_BROKER_NAME));
    out.put("originBrokerURL", advisory.getStringProperty(AdvisorySupport.MSG_PROPERTY_ORIGIN_BROKER_URL));
    return out;
  }

  /**
   * Advisory consumers on a queue's consumers, on queues, and on connections; a consumer on that
   * queue makes one of each. Prints their origin properties beside the id and name the broker gave
   * in its BrokerInfo.
   */
  private void origin() throws Exception {
    String queue = base + ".origin";
    ActiveMQConnection c = (ActiveMQConnection) d.factory("").createConnection();
    try {
      c.start();
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      String[] topics = {"ActiveMQ.Advisory.Consumer.Queue." + queue, "ActiveMQ.Advisory.Queue", "ActiveMQ.Advisory.Connection"};
      List<MessageConsumer> watchers = new ArrayList<>();
      for (String topic : topics) watchers.add(s.createConsumer(s.createTopic(topic)));
      MessageConsumer consumer = s.createConsumer(s.createQueue(queue));
      List<Object> origins = new ArrayList<>();
      // the first of each: a connection advisory replays this connection, the queue one names the queue made
      for (MessageConsumer watcher : watchers) origins.add(originOf(d.receive(watcher, 1).get(0)));
      consumer.close();
      BrokerInfo info = c.getBrokerInfo();
      JmsDriver.emit("event", "advisory-origin", "brokerId", info.getBrokerId().getValue(), "brokerName", info.getBrokerName(), "origins", origins);
    } finally {
      c.close();
    }
  }

  /** A consumer advisory as the test compares it: what its data structure is, the subscription it names, and `consumerCount`. */
  private static Map<String, Object> consumerAdvisory(Message advisory) throws Exception {
    DataStructure data = ((ActiveMQMessage) advisory).getDataStructure();
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("data", data == null ? null : data.getClass().getSimpleName());
    String name = data instanceof ConsumerInfo ? ((ConsumerInfo) data).getSubscriptionName() : data instanceof RemoveSubscriptionInfo ? ((RemoveSubscriptionInfo) data).getSubscriptionName() : null;
    out.put("subscription", name);
    out.put("consumerCount", advisory.getObjectProperty(AdvisorySupport.MSG_PROPERTY_CONSUMER_COUNT));
    return out;
  }

  /**
   * A consumer on `ActiveMQ.Advisory.Consumer.Topic.T`, then, one step at a time: durable
   * subscriber d1 made and closed (it stays, offline), d2 made and closed, a plain subscriber
   * opened and closed, then d2 and d1 unsubscribed. Prints each advisory a step brought (none
   * is waited for after an unsubscribe, only collected until it is quiet).
   */
  private void durables() throws Exception {
    String topic = base + ".durables";
    try (JmsDriver.Conn watcher = d.connect(); JmsDriver.Conn c = d.connect("", base + "-durables")) {
      Session ws = JmsDriver.session(watcher, Session.AUTO_ACKNOWLEDGE);
      MessageConsumer advisories = ws.createConsumer(ws.createTopic("ActiveMQ.Advisory.Consumer.Topic." + topic));
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Topic t = s.createTopic(topic);
      List<Object> seen = new ArrayList<>();
      for (String name : new String[] {"d1", "d2"}) {
        MessageConsumer durable = s.createDurableSubscriber(t, name);
        seen.add(consumerAdvisory(d.receive(advisories, 1).get(0)));
        durable.close();
        seen.add(consumerAdvisory(d.receive(advisories, 1).get(0)));
      }
      MessageConsumer plain = s.createConsumer(t);
      seen.add(consumerAdvisory(d.receive(advisories, 1).get(0)));
      plain.close();
      seen.add(consumerAdvisory(d.receive(advisories, 1).get(0)));
      s.unsubscribe("d2");
      s.unsubscribe("d1");
      for (Message m : d.drain(advisories)) seen.add(consumerAdvisory(m));
      JmsDriver.emit("event", "durable-advisories", "advisories", seen);
    }
  }

  /** What a step brought on a wildcard advisory topic: the advisory topic past `prefix`, the data structure and `consumerCount`. */
  private static Map<String, Object> wildcardAdvisory(Message advisory, String prefix) throws Exception {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("on", ((Topic) advisory.getJMSDestination()).getTopicName().substring(prefix.length()));
    DataStructure data = ((ActiveMQMessage) advisory).getDataStructure();
    out.put("data", data == null ? null : data.getClass().getSimpleName());
    out.put("consumerCount", advisory.getObjectProperty(AdvisorySupport.MSG_PROPERTY_CONSUMER_COUNT));
    return out;
  }

  /**
   * Consumers on `ActiveMQ.Advisory.Consumer.Queue.B.>` and `ActiveMQ.Advisory.Consumer.Topic.B.*`
   * (B: base.wca), then, one step at a time, consumers on queues B.a (two), B.b and the wildcard
   * B.*, two of them closed; and on topics: the wildcard B.* before any topic, a plain and a durable
   * subscriber on B.x, each closed, the durable subscription removed. Prints the advisory each step brought.
   */
  private void wildcards() throws Exception {
    String dest = base + ".wca";
    String queuePrefix = "ActiveMQ.Advisory.Consumer.Queue." + base + ".";
    String topicPrefix = "ActiveMQ.Advisory.Consumer.Topic." + base + ".";
    try (JmsDriver.Conn watcher = d.connect(); JmsDriver.Conn c = d.connect("", base + "-wca")) {
      Session ws = JmsDriver.session(watcher, Session.AUTO_ACKNOWLEDGE);
      MessageConsumer queues = ws.createConsumer(ws.createTopic("ActiveMQ.Advisory.Consumer.Queue." + dest + ".>"));
      MessageConsumer topics = ws.createConsumer(ws.createTopic("ActiveMQ.Advisory.Consumer.Topic." + dest + ".*"));
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      List<Object> queueSteps = new ArrayList<>();
      List<MessageConsumer> opened = new ArrayList<>();
      for (String name : new String[] {"a", "a", "b", "*"}) {
        opened.add(s.createConsumer(s.createQueue(dest + "." + name)));
        queueSteps.add(wildcardAdvisory(d.receive(queues, 1).get(0), queuePrefix));
      }
      // one of B.a's two, then the wildcard
      for (int i : new int[] {0, 3}) {
        opened.get(i).close();
        queueSteps.add(wildcardAdvisory(d.receive(queues, 1).get(0), queuePrefix));
      }
      List<Object> topicSteps = new ArrayList<>();
      Topic x = s.createTopic(dest + ".x");
      MessageConsumer wildcard = s.createConsumer(s.createTopic(dest + ".*"));
      topicSteps.add(wildcardAdvisory(d.receive(topics, 1).get(0), topicPrefix));
      MessageConsumer plain = s.createConsumer(x);
      topicSteps.add(wildcardAdvisory(d.receive(topics, 1).get(0), topicPrefix));
      MessageConsumer durable = s.createDurableSubscriber(x, "wca");
      topicSteps.add(wildcardAdvisory(d.receive(topics, 1).get(0), topicPrefix));
      for (MessageConsumer consumer : new MessageConsumer[] {durable, plain, wildcard}) {
        consumer.close();
        topicSteps.add(wildcardAdvisory(d.receive(topics, 1).get(0), topicPrefix));
      }
      s.unsubscribe("wca");
      for (Message m : d.drain(topics)) topicSteps.add(wildcardAdvisory(m, topicPrefix));
      for (Message m : d.drain(queues)) queueSteps.add(wildcardAdvisory(m, queuePrefix));
      JmsDriver.emit("event", "wildcard-advisories", "queues", queueSteps, "topics", topicSteps);
    }
  }

  /**
   * A consumer on the advisory topic `--topic` (a composite of several too): prints "ready" once
   * it is open, then each advisory as it comes (its topic, data structure, the client id, subscription
   * and connection id it names, and `consumerCount`), until `--count` RemoveSubscriptionInfo have come.
   */
  private void watch() throws Exception {
    int count = d.count();
    try (JmsDriver.Conn watcher = d.connect()) {
      Session ws = JmsDriver.session(watcher, Session.AUTO_ACKNOWLEDGE);
      MessageConsumer advisories = ws.createConsumer(ws.createTopic(d.required("topic")));
      JmsDriver.emit("event", "ready");
      for (int removals = 0; removals < count;) {
        Message m = advisories.receive(d.timeout);
        if (m == null) throw new IllegalStateException("no advisory within " + d.timeout + " ms after " + removals + " RemoveSubscriptionInfo");
        DataStructure data = ((ActiveMQMessage) m).getDataStructure();
        String clientId = null;
        String subscription = null;
        ConnectionId connection = null;
        if (data instanceof RemoveSubscriptionInfo) {
          RemoveSubscriptionInfo info = (RemoveSubscriptionInfo) data;
          clientId = info.getClientId();
          subscription = info.getSubscriptionName();
          connection = info.getConnectionId();
          removals++;
        } else if (data instanceof ConsumerInfo) {
          subscription = ((ConsumerInfo) data).getSubscriptionName();
          connection = ((ConsumerInfo) data).getConsumerId().getParentId().getParentId();
        } else if (data instanceof ConnectionInfo) {
          clientId = ((ConnectionInfo) data).getClientId();
          connection = ((ConnectionInfo) data).getConnectionId();
        }
        JmsDriver.emit("event", "advisory", "on", ((Topic) m.getJMSDestination()).getTopicName(), "data", data == null ? null : data.getClass().getSimpleName(),
            "clientId", clientId, "subscription", subscription, "connectionId", connection == null ? null : connection.getValue(),
            "consumerCount", m.getObjectProperty(AdvisorySupport.MSG_PROPERTY_CONSUMER_COUNT));
      }
    }
  }
}
