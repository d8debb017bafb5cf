import java.util.List;
import javax.jms.Connection;
import javax.jms.JMSException;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.Session;
import javax.jms.TemporaryQueue;
import javax.jms.Topic;
import javax.jms.TopicSubscriber;
import org.apache.activemq.ActiveMQConnectionFactory;

/**
 * Scenarios of what one user's connection owns while another user's client reaches for it: a
 * temporary queue, a durable subscription. The owner logs in as --user, the other as --other-user.
 */
final class Ownership {
  private final JmsDriver d;
  private final String base;

  Ownership(JmsDriver driver) {
    this.d = driver;
    this.base = driver.opt("dest", "interop");
  }

  /** False when `command` is not one of these scenarios. */
  boolean run(String command) throws Exception {
    switch (command) {
      case "temporary-owner": temporaryOwner(); return true;
      case "durable-change": durableChange(); return true;
      default: return false;
    }
  }

  /**
   * Makes a temporary queue holding `count` replies and a temporary topic, and prints their names; once a message comes to
   * queue `<dest>.go` (the others have had their try), prints what the temporary queue holds.
   */
  private void temporaryOwner() throws Exception {
    int n = d.count();
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      TemporaryQueue replies = s.createTemporaryQueue();
      JmsDriver.sendTexts(s, replies, "reply ", n);
      JmsDriver.emit("event", "temporary", "name", replies.getQueueName(), "topic", s.createTemporaryTopic().getTopicName());
      MessageConsumer go = s.createConsumer(s.createQueue(base + ".go"));
      if (go.receive(Long.parseLong(d.opt("wait", "30000"))) == null) throw new IllegalStateException("no message came to " + base + ".go");
      JmsDriver.emit("event", "owner-received", "bodies", JmsDriver.bodies(d.drain(s.createConsumer(replies))));
    }
  }

  /**
   * --user makes durable subscription `sub` on topic `<dest>.owned` under --client-id, goes away,
   * and `count` messages wait for it; --other-user, with the same client id, subscribes `sub` to
   * `<dest>.other`; then the owner resumes its subscription and prints what waited, then moves it
   * to `<dest>.other` itself.
   */
  private void durableChange() throws Exception {
    String clientId = d.required("client-id");
    String owned = base + ".owned";
    try (JmsDriver.Conn c = d.connect(d.opt("options", ""), clientId)) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      s.createDurableSubscriber(s.createTopic(owned), "sub").close();
    }
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      JmsDriver.sendTexts(s, s.createTopic(owned), "waiting ", d.count());
    }
    Connection intruder = otherFactory().createConnection();
    try {
      intruder.setClientID(clientId);
      intruder.start();
      Session s = JmsDriver.session(intruder, Session.AUTO_ACKNOWLEDGE);
      String refusal = null;
      try {
        s.createDurableSubscriber(s.createTopic(base + ".other"), "sub").close();
      } catch (JMSException err) {
        refusal = err.getClass().getName() + ": " + err.getMessage();
      }
      JmsDriver.emit("event", "other-subscribed", "refusal", refusal);
    } finally {
      intruder.close();
    }
    try (JmsDriver.Conn c = d.connect(d.opt("options", ""), clientId)) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      TopicSubscriber resumed = s.createDurableSubscriber(s.createTopic(owned), "sub");
      List<Message> waited = d.drain(resumed);
      resumed.close();
      JmsDriver.emit("event", "owner-resumed", "bodies", JmsDriver.bodies(waited));
      Topic other = s.createTopic(base + ".other");
      TopicSubscriber moved = s.createDurableSubscriber(other, "sub");
      JmsDriver.sendTexts(s, other, "moved ", 1);
      JmsDriver.emit("event", "owner-moved", "bodies", JmsDriver.bodies(d.receive(moved, 1)));
      moved.close();
      s.unsubscribe("sub");
    }
  }

  private ActiveMQConnectionFactory otherFactory() throws JMSException {
    ActiveMQConnectionFactory f = d.factory(d.opt("options", ""));
    f.setUserName(d.required("other-user"));
    f.setPassword(d.required("other-password"));
    return f;
  }
}
