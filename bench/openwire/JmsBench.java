import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import javax.jms.BytesMessage;
import javax.jms.Connection;
import javax.jms.DeliveryMode;
import javax.jms.JMSException;
import javax.jms.MessageConsumer;
import javax.jms.MessageProducer;
import javax.jms.Queue;
import javax.jms.Session;
import org.apache.activemq.ActiveMQConnectionFactory;

/**
 * JMS load through ActiveMQ's own client: P producers -> 1 consumer on one queue, 1 KiB
 * BytesMessages, AUTO_ACKNOWLEDGE. Producers send for --duration seconds after a warm-up; each
 * message carries its send time (System.nanoTime, one JVM for both ends) in a long property.
 * Prints {"event":"start"} when the measured window opens and one {"event":"result",...} line at
 * the end, so the caller can read the broker's CPU time at both.
 * With --rate R the producers together send R messages a second, each at its planned time, and the
 * stamp is that planned time: a send held up (by the broker or by the client) is charged to the
 * latency of the messages behind it rather than hidden (coordinated omission).
 * Usage: JmsBench --url URL --queue NAME --producers P --persistent true|false --async true|false
 *        [--duration S] [--warmup S] [--size BYTES] [--rate MSGS_PER_S]
 */
public final class JmsBench {
  private static final class Consumer {
    final AtomicLong received = new AtomicLong();
    volatile boolean measuring;
    long[] latencyUs = new long[1 << 20];
    int samples;
    volatile long lastReceiveNs;

    synchronized void record(long sentNs, long nowNs) {
      received.incrementAndGet();
      lastReceiveNs = nowNs;
      if (!measuring) return;
      if (samples == latencyUs.length) latencyUs = Arrays.copyOf(latencyUs, samples * 2);
      latencyUs[samples++] = (nowNs - sentNs) / 1000;
    }

    synchronized long[] sorted() {
      long[] out = Arrays.copyOf(latencyUs, samples);
      Arrays.sort(out);
      return out;
    }
  }

  public static void main(String[] args) throws Exception {
    Map<String, String> o = new HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) o.put(args[i].substring(2), args[i + 1]);
    String url = o.get("url");
    String queueName = o.get("queue");
    int producers = Integer.parseInt(o.getOrDefault("producers", "1"));
    boolean persistent = Boolean.parseBoolean(o.getOrDefault("persistent", "true"));
    boolean async = Boolean.parseBoolean(o.getOrDefault("async", "false"));
    double durationS = Double.parseDouble(o.getOrDefault("duration", "10"));
    double warmupS = Double.parseDouble(o.getOrDefault("warmup", "3"));
    int size = Integer.parseInt(o.getOrDefault("size", "1024"));
    double rate = Double.parseDouble(o.getOrDefault("rate", "0"));
    // each producer's interval between planned sends; 0: as fast as it can
    long stepNs = rate > 0 ? (long) (1e9 * producers / rate) : 0;
    // a broker that stops answering ends the run instead of hanging it
    Thread watchdog = new Thread(() -> {
      try {
        Thread.sleep((long) ((durationS + warmupS) * 1000) + 120_000);
        System.out.println("{\"event\":\"error\",\"message\":\"the run did not finish in time\"}");
        Runtime.getRuntime().halt(3);
      } catch (InterruptedException ignored) {
        // the run finished
      }
    });
    watchdog.setDaemon(true);
    watchdog.start();

    String options = async ? "jms.useAsyncSend=true&jms.producerWindowSize=1048576" : "";
    ActiveMQConnectionFactory factory = new ActiveMQConnectionFactory(url + (options.isEmpty() ? "" : (url.contains("?") ? "&" : "?") + options));
    Consumer consumer = new Consumer();
    Connection consumerConnection = factory.createConnection();
    consumerConnection.start();
    Session consumerSession = consumerConnection.createSession(false, Session.AUTO_ACKNOWLEDGE);
    MessageConsumer mc = consumerSession.createConsumer(consumerSession.createQueue(queueName));
    mc.setMessageListener(m -> {
      try {
        consumer.record(m.getLongProperty("ts"), System.nanoTime());
      } catch (JMSException err) {
        throw new IllegalStateException(err);
      }
    });

    AtomicLong sent = new AtomicLong();
    long startNs = System.nanoTime();
    long measureFromNs = startNs + (long) (warmupS * 1e9);
    long stopNs = measureFromNs + (long) (durationS * 1e9);
    List<Thread> threads = new ArrayList<>();
    List<Connection> connections = new ArrayList<>();
    Throwable[] failure = {null};
    for (int p = 0; p < producers; p++) {
      final int index = p;
      Connection c = factory.createConnection();
      c.start();
      connections.add(c);
      Session s = c.createSession(false, Session.AUTO_ACKNOWLEDGE);
      Queue q = s.createQueue(queueName);
      MessageProducer producer = s.createProducer(q);
      producer.setDeliveryMode(persistent ? DeliveryMode.PERSISTENT : DeliveryMode.NON_PERSISTENT);
      byte[] body = new byte[size];
      threads.add(new Thread(() -> {
        try {
          // producers start evenly spread over one interval, so a paced run is not a burst per interval
          long plannedNs = startNs + stepNs * index / producers;
          while (System.nanoTime() < stopNs) {
            BytesMessage m = s.createBytesMessage();
            m.writeBytes(body);
            if (stepNs > 0) {
              for (long wait = plannedNs - System.nanoTime(); wait > 0; wait = plannedNs - System.nanoTime()) LockSupport.parkNanos(wait);
              m.setLongProperty("ts", plannedNs);
              plannedNs += stepNs;
            } else m.setLongProperty("ts", System.nanoTime());
            producer.send(m);
            sent.incrementAndGet();
          }
        } catch (Throwable err) {
          failure[0] = err;
        }
      }));
    }
    for (Thread t : threads) t.start();
    // the window opens once the warm-up is over; what was received before it is not counted
    while (System.nanoTime() < measureFromNs) Thread.sleep(Math.max(1, (measureFromNs - System.nanoTime()) / 1_000_000));
    long receivedBefore;
    synchronized (consumer) {
      consumer.measuring = true;
      receivedBefore = consumer.received.get();
    }
    System.out.println("{\"event\":\"start\"}");
    System.out.flush();
    for (Thread t : threads) t.join();
    if (failure[0] != null) throw new IllegalStateException("a producer failed: " + failure[0], failure[0]);
    // every sent message must arrive: the count is checked, not assumed
    long drainDeadline = System.nanoTime() + 60_000_000_000L;
    while (consumer.received.get() < sent.get() && System.nanoTime() < drainDeadline) Thread.sleep(5);
    long received = consumer.received.get();
    long windowNs = consumer.lastReceiveNs - measureFromNs;
    long[] lat = consumer.sorted();
    Map<String, Object> result = new LinkedHashMap<>();
    result.put("event", "result");
    result.put("sent", sent.get());
    result.put("received", received);
    result.put("measured", received - receivedBefore);
    result.put("seconds", windowNs / 1e9);
    result.put("msgsPerS", (received - receivedBefore) / (windowNs / 1e9));
    result.put("p50Us", lat.length == 0 ? 0 : lat[(int) (lat.length * 0.5)]);
    result.put("p99Us", lat.length == 0 ? 0 : lat[Math.min(lat.length - 1, (int) (lat.length * 0.99))]);
    result.put("p999Us", lat.length == 0 ? 0 : lat[Math.min(lat.length - 1, (int) (lat.length * 0.999))]);
    StringBuilder line = new StringBuilder("{");
    for (Map.Entry<String, Object> e : result.entrySet()) {
      if (line.length() > 1) line.append(',');
      Object v = e.getValue();
      line.append('"').append(e.getKey()).append("\":").append(v instanceof String ? "\"" + v + "\"" : String.valueOf(v));
    }
    System.out.println(line.append('}'));
    System.out.flush();
    for (Connection c : connections) c.close();
    consumerConnection.close();
    System.exit(received == sent.get() ? 0 : 2);
  }
}
