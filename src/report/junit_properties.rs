//! JUnit `<property>` elements on test cases, which the `junit-report` crate does not write:
//! each route's detection limit goes on its `<testcase>` as
//! `<properties><property name="detection_limit.bytes_per_request" value="12.3"/>...`,
//! where CI systems that read test-case properties (GitLab, Jenkins, Buildkite) show them.

/// Inserts `properties` into the `<testcase>` named `name` of class `classname` in `xml` (a
/// document `junit-report` wrote: attributes in double quotes, `name` first).
pub(super) fn add(xml: &str, classname: &str, name: &str, properties: &[(&str, String)]) -> String {
    if properties.is_empty() {
        return xml.to_owned();
    }
    let opening = format!("<testcase name=\"{}\"", escape(name));
    let class = format!(" classname=\"{}\"", escape(classname));
    let found = xml.match_indices(&opening).find_map(|(start, _)| {
        let end = start + xml[start..].find('>')?;
        xml[start..end].contains(&class).then_some(end)
    });
    let Some(end) = found else {
        return xml.to_owned();
    };
    let mut block = String::from("<properties>");
    for (key, value) in properties {
        block += &format!("<property name=\"{}\" value=\"{}\"/>", escape(key), escape(value));
    }
    block += "</properties>";
    let mut out = String::with_capacity(xml.len() + block.len() + 16);
    if xml[..end].ends_with('/') {
        // `<testcase .../>`: open it, add the properties, close it.
        out += &xml[..end - 1];
        out += ">";
        out += &block;
        out += "</testcase>";
    } else {
        out += &xml[..=end];
        out += &block;
    }
    out += &xml[end + 1..];
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_go_inside_the_test_case_open_or_self_closing() {
        let props = [("detection_limit.bytes_per_request", "12.3".to_owned())];
        let closed = r#"<testsuite><testcase name="a" time="1" classname="t"/></testsuite>"#;
        assert_eq!(
            add(closed, "t", "a", &props),
            r#"<testsuite><testcase name="a" time="1" classname="t"><properties><property name="detection_limit.bytes_per_request" value="12.3"/></properties></testcase></testsuite>"#
        );
        let open = r#"<testcase name="a" classname="t" time="1"><failure/></testcase>"#;
        assert_eq!(
            add(open, "t", "a", &props),
            r#"<testcase name="a" classname="t" time="1"><properties><property name="detection_limit.bytes_per_request" value="12.3"/></properties><failure/></testcase>"#
        );
        assert_eq!(add(open, "t", "b", &props), open);
    }
}
