import javax.jms.MessageConsumer;
import javax.jms.Session;
import javax.jms.TemporaryQueue;

/**
 * Scenarios of what one user's connection owns while other users' clients reach for it: its
 * temporary destinations. The owner logs in as --user.
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
}
