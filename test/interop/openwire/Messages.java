import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.jms.BytesMessage;
import javax.jms.DeliveryMode;
import javax.jms.Destination;
import javax.jms.JMSException;
import javax.jms.MapMessage;
import javax.jms.Message;
import javax.jms.MessageEOFException;
import javax.jms.ObjectMessage;
import javax.jms.Queue;
import javax.jms.Session;
import javax.jms.StreamMessage;
import javax.jms.TemporaryQueue;
import javax.jms.TemporaryTopic;
import javax.jms.TextMessage;
import javax.jms.Topic;

/** Builds the driver's messages of every JMS type and describes received ones, Java types included. */
final class Messages {
  private Messages() {}

  static final String[] KINDS = {"text", "bytes", "map", "stream", "object", "message"};

  /** The ObjectMessage payload: a plain Serializable class of the driver's own. */
  static final class Payload implements Serializable {
    private static final long serialVersionUID = 1L;
    final String name;
    final int number;

    Payload(String name, int number) {
      this.name = name;
      this.number = number;
    }
  }

  /** Message `index` of `kind`, its body derived from both so a receiver can tell each apart. */
  static Message build(Session session, String kind, int index) throws JMSException {
    switch (kind) {
      case "text":
        return session.createTextMessage("text " + index + " \u00fcn\u00efc\u00f8d\u00e9 \u2713");
      case "bytes": {
        BytesMessage m = session.createBytesMessage();
        m.writeBytes(new byte[] {0, 1, 2, (byte) 0x7f, (byte) 0x80, (byte) 0xff, (byte) index});
        return m;
      }
      case "map": {
        MapMessage m = session.createMapMessage();
        m.setBoolean("boolean", true);
        m.setByte("byte", (byte) -8);
        m.setShort("short", (short) -1234);
        m.setChar("char", 'x');
        m.setInt("int", 123456789);
        m.setLong("long", 1234567890123L);
        m.setFloat("float", 1.5f);
        m.setDouble("double", -2.25);
        m.setString("string", "map " + index);
        m.setBytes("bytes", new byte[] {9, 8, 7});
        return m;
      }
      case "stream": {
        StreamMessage m = session.createStreamMessage();
        m.writeBoolean(false);
        m.writeByte((byte) 127);
        m.writeShort((short) 32767);
        m.writeChar('y');
        m.writeInt(-1);
        m.writeLong(Long.MAX_VALUE);
        m.writeFloat(0.25f);
        m.writeDouble(1e100);
        m.writeString("stream " + index);
        m.writeBytes(new byte[] {1, 2});
        m.writeObject(null);
        return m;
      }
      case "object":
        return session.createObjectMessage(new Payload("object", index));
      case "message":
        return session.createMessage();
      default:
        throw new IllegalArgumentException("unknown message kind " + kind);
    }
  }

  /** Every header a producer may set and one typed property of each JMS property type. */
  static void decorate(Message m, String kind, int index, Destination replyTo) throws JMSException {
    m.setJMSCorrelationID("corr-" + kind + "-" + index);
    m.setJMSType("type-" + kind);
    m.setJMSReplyTo(replyTo);
    m.setBooleanProperty("pBoolean", true);
    m.setByteProperty("pByte", (byte) -7);
    m.setShortProperty("pShort", (short) 300);
    m.setIntProperty("pInt", index);
    m.setLongProperty("pLong", 1L << 40);
    m.setFloatProperty("pFloat", 3.5f);
    m.setDoubleProperty("pDouble", 0.125);
    m.setStringProperty("pString", "prop " + kind);
    m.setStringProperty("JMSXGroupID", "group-" + kind);
    m.setIntProperty("JMSXGroupSeq", index + 1);
  }

  static String kindOf(Message m) {
    if (m instanceof TextMessage) return "text";
    if (m instanceof BytesMessage) return "bytes";
    if (m instanceof MapMessage) return "map";
    if (m instanceof StreamMessage) return "stream";
    if (m instanceof ObjectMessage) return "object";
    return "message";
  }

  /** A value and its Java type, so a test sees that a short stayed a short. */
  static List<Object> typed(Object value) {
    String type;
    if (value == null) type = "null";
    else if (value instanceof Boolean) type = "boolean";
    else if (value instanceof Byte) type = "byte";
    else if (value instanceof Short) type = "short";
    else if (value instanceof Character) type = "char";
    else if (value instanceof Integer) type = "int";
    else if (value instanceof Long) type = "long";
    else if (value instanceof Float) type = "float";
    else if (value instanceof Double) type = "double";
    else if (value instanceof String) type = "string";
    else if (value instanceof byte[]) type = "bytes";
    else if (value instanceof Map) type = "map";
    else if (value instanceof List) type = "list";
    else type = value.getClass().getName();
    List<Object> pair = new ArrayList<>();
    pair.add(type);
    pair.add(typedItems(value));
    return pair;
  }

  /** A map's or list's values typed in turn (a map by sorted names), so nested types show too. */
  private static Object typedItems(Object value) {
    if (value instanceof Map) {
      Map<String, Object> out = new TreeMap<>();
      for (Map.Entry<?, ?> e : ((Map<?, ?>) value).entrySet()) out.put(String.valueOf(e.getKey()), typed(e.getValue()));
      return out;
    }
    if (value instanceof List) {
      List<Object> out = new ArrayList<>();
      for (Object item : (List<?>) value) out.add(typed(item));
      return out;
    }
    return value;
  }

  static String destination(Destination d) throws JMSException {
    if (d == null) return null;
    if (d instanceof TemporaryQueue) return "temp-queue://" + ((Queue) d).getQueueName();
    if (d instanceof TemporaryTopic) return "temp-topic://" + ((Topic) d).getTopicName();
    if (d instanceof Queue) return "queue://" + ((Queue) d).getQueueName();
    if (d instanceof Topic) return "topic://" + ((Topic) d).getTopicName();
    return d.toString();
  }

  static Object body(Message m) throws JMSException {
    if (m instanceof TextMessage) return ((TextMessage) m).getText();
    if (m instanceof BytesMessage) {
      BytesMessage b = (BytesMessage) m;
      byte[] data = new byte[(int) b.getBodyLength()];
      b.readBytes(data);
      return data;
    }
    if (m instanceof MapMessage) {
      MapMessage mm = (MapMessage) m;
      Map<String, Object> out = new LinkedHashMap<>();
      List<String> names = new ArrayList<>();
      for (Enumeration<?> e = mm.getMapNames(); e.hasMoreElements(); ) names.add((String) e.nextElement());
      Collections.sort(names);
      for (String name : names) out.put(name, typed(mm.getObject(name)));
      return out;
    }
    if (m instanceof StreamMessage) {
      StreamMessage s = (StreamMessage) m;
      List<Object> out = new ArrayList<>();
      while (true) {
        try {
          out.add(typed(s.readObject()));
        } catch (MessageEOFException end) {
          return out;
        }
      }
    }
    if (m instanceof ObjectMessage) {
      Object o = ((ObjectMessage) m).getObject();
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("class", o == null ? null : o.getClass().getName());
      if (o instanceof Payload) {
        out.put("name", ((Payload) o).name);
        out.put("number", ((Payload) o).number);
      }
      return out;
    }
    return null;
  }

  /** Everything a test compares: kind, body, every header, every property with its type. */
  static Map<String, Object> describe(Message m) throws JMSException {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("id", m.getJMSMessageID());
    out.put("kind", kindOf(m));
    out.put("body", body(m));
    out.put("destination", destination(m.getJMSDestination()));
    out.put("deliveryMode", m.getJMSDeliveryMode() == DeliveryMode.PERSISTENT ? "persistent" : "non-persistent");
    out.put("priority", m.getJMSPriority());
    out.put("expiration", m.getJMSExpiration());
    out.put("timestamp", m.getJMSTimestamp());
    out.put("correlationId", m.getJMSCorrelationID());
    out.put("type", m.getJMSType());
    out.put("replyTo", destination(m.getJMSReplyTo()));
    out.put("redelivered", m.getJMSRedelivered());
    Map<String, Object> props = new LinkedHashMap<>();
    List<String> names = new ArrayList<>();
    for (Enumeration<?> e = m.getPropertyNames(); e.hasMoreElements(); ) names.add((String) e.nextElement());
    Collections.sort(names);
    for (String name : names) props.put(name, typed(m.getObjectProperty(name)));
    out.put("properties", props);
    out.put("deliveryCount", m.getIntProperty("JMSXDeliveryCount"));
    return out;
  }
}
