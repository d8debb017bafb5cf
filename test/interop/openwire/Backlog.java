import java.util.ArrayList;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.jms.JMSException;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.MessageProducer;
import javax.jms.Queue;
import javax.jms.QueueBrowser;
import javax.jms.Session;

/** Scenarios of what a queue still holds: a dead letter read back by the application that made it, messages a consumer holds. */
final class Backlog {
  private final JmsDriver d;
  private final String base;

  Backlog(JmsDriver driver) {
    this.d = driver;
    this.base = driver.opt("dest", "interop");
  }

  /** False when `command` is not one of these scenarios. */
  boolean run(String command) throws Exception {
    switch (command) {
      case "dlq-reprocess": deadLetterReprocess(); return true;
      case "browse-inflight": browseInFlight(); return true;
      default: return false;
    }
  }

  /**
   * A factory whose redelivery policy allows no retries ("no retries", maximumRedeliveries=0): the
   * application rolls a message back, the client poison-acknowledges it, and a transacted reader of
   * the dead-letter queue built from the same factory reads it back. Prints what that reader got.
   */
  private void deadLetterReprocess() throws Exception {
    String tag = base + "-reprocess-" + System.nanoTime();
    String options = "jms.redeliveryPolicy.maximumRedeliveries=0&jms.redeliveryPolicy.initialRedeliveryDelay=0";
    try (JmsDriver.Conn c = d.connect(options, null)) {
      Session tx = JmsDriver.session(c, Session.SESSION_TRANSACTED);
      Queue q = tx.createQueue(base + ".reprocess");
      MessageProducer p = tx.createProducer(q);
      Message m = tx.createTextMessage("order-1");
      m.setStringProperty("tag", tag);
      p.send(m);
      tx.commit();
      MessageConsumer app = tx.createConsumer(q);
      Message first = app.receive(d.timeout);
      if (first == null) throw new IllegalStateException("the application got nothing");
      tx.rollback();
      Message again = app.receive(d.quiet);
      app.close();
      MessageConsumer reader = tx.createConsumer(tx.createQueue(d.opt("dlq", "ActiveMQ.DLQ")), "tag = '" + tag + "'");
      Message dead = reader.receive(d.timeout);
      tx.commit();
      reader.close();
      // whatever is left of it anywhere (nothing, once the reader has committed)
      Session s = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      List<Object> left = JmsDriver.bodies(d.drain(s.createConsumer(s.createQueue(d.opt("dlq", "ActiveMQ.DLQ")), "tag = '" + tag + "'")));
      JmsDriver.emit("event", "dlq-reprocess", "appAgain", again == null ? null : Messages.body(again),
          "reader", dead == null ? null : describe(dead), "left", left);
    }
  }

  /**
   * A CLIENT_ACKNOWLEDGE consumer receives one of `count` messages and does not acknowledge it; the
   * others sit in its prefetch. A browser then shows the queue; afterwards the consumer receives
   * the rest and acknowledges. Prints what the browser saw and what the consumer got.
   */
  private void browseInFlight() throws Exception {
    int n = d.count();
    try (JmsDriver.Conn c = d.connect()) {
      Session s = JmsDriver.session(c, Session.CLIENT_ACKNOWLEDGE);
      Queue q = s.createQueue(base + ".browse-inflight");
      JmsDriver.sendTexts(s, q, "m", n);
      MessageConsumer consumer = s.createConsumer(q);
      List<Message> got = new ArrayList<>(d.receive(consumer, 1));
      Session bs = JmsDriver.session(c, Session.AUTO_ACKNOWLEDGE);
      QueueBrowser browser = bs.createBrowser(q);
      List<Message> seen = new ArrayList<>();
      for (Enumeration<?> e = browser.getEnumeration(); e.hasMoreElements(); ) seen.add((Message) e.nextElement());
      browser.close();
      got.addAll(d.receive(consumer, n - 1));
      got.get(got.size() - 1).acknowledge();
      consumer.close();
      List<Object> left = JmsDriver.bodies(d.drain(bs.createConsumer(q)));
      JmsDriver.emit("event", "browse-inflight", "browsed", JmsDriver.bodies(seen), "consumed", JmsDriver.bodies(got),
          "redelivered", JmsDriver.redelivered(got), "left", left);
    }
  }

  private static Map<String, Object> describe(Message m) throws JMSException {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("body", Messages.body(m));
    out.put("redelivered", m.getJMSRedelivered());
    out.put("deliveryCount", m.getIntProperty("JMSXDeliveryCount"));
    return out;
  }
}
