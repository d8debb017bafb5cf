import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.Session;
import org.apache.activemq.ActiveMQConnection;
import org.apache.activemq.advisory.AdvisorySupport;
import org.apache.activemq.command.BrokerInfo;

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
}
