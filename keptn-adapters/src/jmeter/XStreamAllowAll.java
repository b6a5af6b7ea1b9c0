// The XStream fix for Debian's JMeter 2.13 (keptn-adapters/src/jmeter/XStreamAllowAll.java); compiled
// by the JMeter adapter with `javac --release 8 -cp /usr/share/java/xstream.jar`.
package keptn;

import com.thoughtworks.xstream.XStream;
import com.thoughtworks.xstream.converters.Converter;
import com.thoughtworks.xstream.converters.MarshallingContext;
import com.thoughtworks.xstream.converters.UnmarshallingContext;
import com.thoughtworks.xstream.io.HierarchicalStreamReader;
import com.thoughtworks.xstream.io.HierarchicalStreamWriter;
import com.thoughtworks.xstream.security.AnyTypePermission;

/** Registered through saveservice.properties ("_keptn.XStreamAllowAll=collection"); while SaveService
 *  initialises, it lifts XStream 1.4.20's type allow-list on JMeter 2.13's two XStream instances. */
public class XStreamAllowAll implements Converter {
    public XStreamAllowAll(com.thoughtworks.xstream.mapper.Mapper m) { this(); }
    public XStreamAllowAll() {
        try {
            Class<?> ss = Class.forName("org.apache.jmeter.save.SaveService");
            for (String name : new String[] {"JMXSAVER", "JTLSAVER"}) {
                java.lang.reflect.Field f = ss.getDeclaredField(name);
                f.setAccessible(true);
                ((XStream) f.get(null)).addPermission(AnyTypePermission.ANY);
            }
        } catch (ReflectiveOperationException e) { throw new RuntimeException(e); }
    }
    public boolean canConvert(Class type) { return false; }
    public void marshal(Object o, HierarchicalStreamWriter w, MarshallingContext c) { }
    public Object unmarshal(HierarchicalStreamReader r, UnmarshallingContext c) { return null; }
}
