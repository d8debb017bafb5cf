import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.LinkedBlockingQueue;
import javax.jms.Connection;
import javax.jms.DeliveryMode;
import javax.jms.JMSException;
import javax.jms.Message;
import javax.jms.MessageConsumer;
import javax.jms.MessageProducer;
import javax.jms.Session;
import javax.jms.TextMessage;
import org.apache.activemq.ActiveMQConnectionFactory;
import org.apache.activemq.ActiveMQSession;

/**
 * The kill loop's OpenWire producer and consumer, through ActiveMQ's own JMS client, in one JVM that
 * outlives the broker runs. Commands on standard input, one per line:
 *   open URL QUEUE [consume] [produce]
 *                                  connect to a broker run (a plain tcp:// URL: the loop restarts it)
 *   send N                         send "kill-N", persistent and synchronous: answered "confirmed N"
 *                                  once the broker said so, "failed N" otherwise
 *   close                          drop the connection (the broker is gone or the run is over)
 * Every message received is printed "delivered N true|false" (its JMSRedelivered) before it is
 * acknowledged individually.
 */
public final class KillLoopClient {
  private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);
  private static final LinkedBlockingQueue<String> SENDS = new LinkedBlockingQueue<>();

  private static volatile Connection connection;
  private static volatile MessageProducer producer;
  private static volatile Session producerSession;

  private static synchronized void say(String line) {
    OUT.println(line);
  }

  public static void main(String[] args) throws Exception {
    Thread sender = new Thread(KillLoopClient::sendLoop, "sender");
    sender.setDaemon(true);
    sender.start();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      String[] words = line.trim().split(" ");
      switch (words[0]) {
        case "open":
          open(words[1], words[2], line.contains(" consume"), line.contains(" produce"));
          break;
        case "send":
          SENDS.put(words[1]);
          break;
        case "close":
          close();
          say("closed");
          break;
        default:
          say("error unknown command " + words[0]);
      }
    }
    close();
  }

  private static void open(String url, String queue, boolean consume, boolean produce) {
    try {
      ActiveMQConnectionFactory factory = new ActiveMQConnectionFactory(url);
      Connection c = factory.createConnection();
      c.setExceptionListener(e -> {});
      if (consume) {
        Session s = c.createSession(false, ActiveMQSession.INDIVIDUAL_ACKNOWLEDGE);
        MessageConsumer consumer = s.createConsumer(s.createQueue(queue));
        consumer.setMessageListener(m -> delivered(m));
      }
      if (produce) {
        producerSession = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
        MessageProducer p = producerSession.createProducer(producerSession.createQueue(queue));
        p.setDeliveryMode(DeliveryMode.PERSISTENT);
        producer = p;
      }
      c.start();
      connection = c;
      say("opened");
    } catch (JMSException e) {
      say("error open " + e);
    }
  }

  private static void delivered(Message m) {
    try {
      String text = ((TextMessage) m).getText();
      say("delivered " + text.substring("kill-".length()) + " " + m.getJMSRedelivered());
      m.acknowledge();
    } catch (JMSException e) {
      // the broker went away between the delivery and its acknowledgement: it comes back, flagged
    }
  }

  private static void sendLoop() {
    for (;;) {
      String n;
      try {
        n = SENDS.take();
      } catch (InterruptedException e) {
        return;
      }
      MessageProducer p = producer;
      Session s = producerSession;
      try {
        if (p == null || s == null) throw new JMSException("not connected");
        p.send(s.createTextMessage("kill-" + n));
        say("confirmed " + n);
      } catch (JMSException | RuntimeException e) {
        say("failed " + n);
      }
    }
  }

  private static void close() {
    Connection c = connection;
    connection = null;
    producer = null;
    producerSession = null;
    if (c == null) return;
    try {
      c.close();
    } catch (JMSException | RuntimeException e) {
      // the broker is gone: nothing to close politely
    }
  }
}
