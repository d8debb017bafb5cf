import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import javax.jms.DeliveryMode;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.MessageProducer;
import javax.jms.Queue;
import javax.jms.Session;

/** Scenarios of times at the edges of a Java long: how long a message lives, how long a receive waits. */
final class Lifetimes {
  private final JmsDriver d;
  private final String base;

  Lifetimes(JmsDriver driver) {
    this.d = driver;
    this.base = driver.opt("dest", "interop");
  }

  /** False when `command` is not one of these scenarios. */
  boolean run(String command) throws Exception {
    switch (command) {
      case "long-pull": longPull(); return true;
      case "ttl-forever": ttlForever(); return true;
      default: return false;
    }
  }

  /**
   * Messages sent with the lifetimes applications use for "forever": the client's JMSExpiration is
   * `timestamp + timeToLive`, which Long.MAX_VALUE overflows to a negative and Long.MAX_VALUE / 2
   * puts past 2^53. Each is received, with the JMSExpiration it was sent with (as text: JSON
   * numbers are doubles).
   */
  private void ttlForever() throws Exception {
    List<Object> sent = new ArrayList<>();
    List<Object> received = new ArrayList<>();
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".ttl-forever");
      MessageProducer p = s.createProducer(q);
      long[] lifetimes = {0, 60_000, Long.MAX_VALUE, Long.MAX_VALUE / 2, Long.MAX_VALUE - 1000};
      for (int mode : new int[] {DeliveryMode.PERSISTENT, DeliveryMode.NON_PERSISTENT}) {
        for (long ttl : lifetimes) {
          Message m = s.createTextMessage((mode == DeliveryMode.PERSISTENT ? "persistent " : "non-persistent ") + ttl);
          p.send(m, mode, 4, ttl);
          sent.add(Arrays.asList(((javax.jms.TextMessage) m).getText(), String.valueOf(m.getJMSExpiration())));
        }
      }
      for (Message m : d.drain(s.createConsumer(q))) received.add(Arrays.asList(Messages.body(m), String.valueOf(m.getJMSExpiration())));
    }
    JmsDriver.emit("event", "ttl-forever", "sent", sent, "received", received);
  }

  /**
   * With prefetch 0 the client leaves a receive's timeout to the broker (MessagePull): each
   * receive(timeout) here, on an empty queue, must still be waiting when a message is sent to it
   * a moment later, and return that message.
   */
  private void longPull() throws Exception {
    List<Object> got = new ArrayList<>();
    try (JmsDriver.Conn c = d.connect("jms.prefetchPolicy.all=0", null)) {
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".long-pull");
      MessageConsumer consumer = s.createConsumer(q);
      Session sender = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      for (long timeout : new long[] {3_000_000_000L, Long.MAX_VALUE}) {
        AtomicReference<Object> received = new AtomicReference<>("nothing returned");
        Thread receiver = new Thread(() -> {
          try {
            Message m = consumer.receive(timeout);
            received.set(m == null ? null : Messages.body(m));
          } catch (Exception e) {
            received.set(e.toString());
          }
        });
        receiver.start();
        // a receive that returns before the message is sent is what this scenario looks for
        receiver.join(Long.parseLong(d.opt("wait", "1000")));
        sender.createProducer(q).send(sender.createTextMessage("after " + timeout));
        receiver.join(d.timeout);
        got.add(received.get());
      }
    }
    JmsDriver.emit("event", "long-pull", "received", got);
  }
}
