import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.jms.DeliveryMode;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.MessageProducer;
import javax.jms.Queue;
import javax.jms.Session;
import org.apache.activemq.advisory.AdvisorySupport;
import org.apache.activemq.command.ActiveMQMessage;
import org.apache.activemq.command.DataStructure;

/** Scenarios of the advisories about messages themselves: expired, and moved to a dead-letter queue. */
final class MessageAdvisories {
  private final JmsDriver d;
  private final String base;

  MessageAdvisories(JmsDriver driver) {
    this.d = driver;
    this.base = driver.opt("dest", "interop");
  }

  /** False when `command` is not one of these scenarios. */
  boolean run(String command) throws Exception {
    switch (command) {
      case "message-advisories": messageAdvisories(); return true;
      default: return false;
    }
  }

  /** An advisory as the test compares it: its own type and properties, and the message its data structure carries. */
  private static Map<String, Object> describe(Message advisory) throws Exception {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("type", advisory.getJMSType());
    out.put("destination", Messages.destination(advisory.getJMSDestination()));
    out.put("originalMessageId", advisory.getStringProperty(AdvisorySupport.MSG_PROPERTY_MESSAGE_ID));
    out.put("originBrokerName", advisory.getStringProperty(AdvisorySupport.MSG_PROPERTY_ORIGIN_BROKER_NAME) != null);
    DataStructure data = ((ActiveMQMessage) advisory).getDataStructure();
    out.put("message", data instanceof Message ? Messages.describe((Message) data) : data == null ? null : data.getClass().getName());
    return out;
  }

  private List<Object> advisories(List<Message> got) throws Exception {
    List<Object> out = new ArrayList<>();
    for (Message m : got) out.add(describe(m));
    return out;
  }

  /**
   * Consumers on `ActiveMQ.Advisory.Expired.Queue.X` and `.MessageDLQd.Queue.X`; a persistent
   * message to X with a short time to live and no consumer (it expires, and goes to the
   * dead-letter queue), then one rolled back past the redelivery policy. Prints what each advisory
   * consumer received, and the ids of the two messages.
   */
  private void messageAdvisories() throws Exception {
    String queue = base + ".advised";
    String options = "jms.redeliveryPolicy.maximumRedeliveries=1&jms.redeliveryPolicy.initialRedeliveryDelay=0&jms.redeliveryPolicy.redeliveryDelay=0";
    try (JmsDriver.Conn c = d.connect(options, null)) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      MessageConsumer expired = s.createConsumer(s.createTopic(AdvisorySupport.EXPIRED_QUEUE_MESSAGES_TOPIC_PREFIX + queue));
      MessageConsumer deadLettered = s.createConsumer(s.createTopic(AdvisorySupport.MESSAGE_DLQ_TOPIC_PREFIX + "Queue." + queue));
      Queue q = s.createQueue(queue);
      MessageProducer p = s.createProducer(q);
      Message expiring = s.createTextMessage("expiring");
      expiring.setStringProperty("tag", "expiring");
      p.send(expiring, DeliveryMode.PERSISTENT, 4, 100);
      // no consumer on the queue: the broker's expiry sweep finds it
      List<Message> expiredGot = d.receive(expired, 1);
      List<Message> deadLetteredGot = d.receive(deadLettered, 1);

      Session tx = JmsDriver.session(c, Session.SESSION_TRANSACTED);
      Message poison = tx.createTextMessage("poison");
      poison.setStringProperty("tag", "poison");
      tx.createProducer(q).send(poison);
      tx.commit();
      MessageConsumer consumer = tx.createConsumer(q);
      for (Message got = consumer.receive(d.timeout); got != null; got = consumer.receive(d.quiet)) tx.rollback();
      consumer.close();
      deadLetteredGot.addAll(d.receive(deadLettered, 1));
      expiredGot.addAll(d.drain(expired));
      deadLetteredGot.addAll(d.drain(deadLettered));
      JmsDriver.emit("event", "message-advisories", "expiringId", expiring.getJMSMessageID(), "poisonId", poison.getJMSMessageID(),
          "expired", advisories(expiredGot), "deadLettered", advisories(deadLetteredGot));
    }
  }
}
