//! Calls: which function a call names, where it may be called, and its arguments against the
//! signature (count, named arguments, argument kinds). Also the language's own functions
//! `env()`, `secret()` and `header()`, and mapping calls.

use super::names::{quoted_list, ConnectionRef, Located};
use super::scope::Place;
use super::suggest::suggest;
use super::walk::Walker;
use crate::ast::{Call, Expr, ExprKind, Mapping, StringPart};
use crate::catalog::{ArgKind, FunctionKind, Signature};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;

/// What a step's call resolved to.
#[derive(Debug, Clone)]
pub(crate) struct CallInfo {
    /// The function's full name.
    pub function: String,
    /// Step function or control step.
    pub kind: FunctionKind,
    /// The connection named by its connection-or-URL argument, if any.
    pub connection: Option<String>,
}

/// The text of a string literal without interpolation.
pub(crate) fn literal_string(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::String(parts) => parts
            .iter()
            .map(|p| match p {
                StringPart::Text(t) => Some(t.as_str()),
                StringPart::Interp(_) => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(|v| v.concat()),
        _ => None,
    }
}

/// "a string", "a number", … for messages about literals of the wrong kind.
fn literal_kind(e: &Expr) -> Option<&'static str> {
    Some(match &e.kind {
        ExprKind::String(_) => "a string",
        ExprKind::Number(_) => "a number",
        ExprKind::Bool(_) => "a boolean",
        ExprKind::Null => "`null`",
        ExprKind::Array(_) => "an array",
        ExprKind::Object(_) => "an object",
        _ => return None,
    })
}

/// "takes 1 argument", "takes 1 to 2 arguments", "takes at least 1 argument".
fn expected_count(min: usize, max: Option<usize>) -> String {
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    match max {
        Some(0) => "takes no arguments".to_string(),
        Some(max) if max == min => format!("takes {min} {}", plural(min)),
        Some(max) => format!("takes {min} to {max} arguments"),
        None => format!("takes at least {min} {}", plural(min)),
    }
}

impl<'s> Walker<'_, 's, '_> {
    /// A call inside an expression: a pure function, a mapping, or `env`/`secret`/`header`.
    pub fn call(&mut self, call: &'s Call) {
        if let [only] = call.path.as_slice() {
            let name = only.name.as_str();
            match name {
                "env" | "secret" => return self.config_call(call, name),
                "header" => return self.header_call(call),
                _ => {}
            }
            if let Some(&mapping) = self.index.mappings.get(name) {
                return self.mapping_call(call, mapping);
            }
        }
        let full = call.name();
        match self.cx.signature(&full) {
            Some(sig) if sig.kind == FunctionKind::Pure => {
                self.arguments(call, sig);
            }
            Some(sig) => {
                let what = if sig.kind == FunctionKind::Control {
                    "a control step"
                } else {
                    "a step function"
                };
                let hint = if full == "transform" {
                    "write the expression itself here; `transform(…)` is only a step's call"
                        .to_string()
                } else {
                    format!("make it a step of its own (`step x = {full}(…)`) and read its result as `x`")
                };
                self.error(
                    Diagnostic::error(
                        Code::InvalidArgument,
                        self.file,
                        call.name_span(),
                        format!("`{full}` can only be called as a step"),
                    )
                    .with_label(format!("{what} inside an expression"))
                    .with_hint(hint),
                );
                self.loose_arguments(call);
            }
            None => {
                self.unknown_function(call, false);
                self.loose_arguments(call);
            }
        }
    }

    /// A step's or compensation's call: a step function or a control step.
    pub fn step_call(&mut self, call: &'s Call) -> Option<CallInfo> {
        let full = call.name();
        if let [only] = call.path.as_slice() {
            let name = only.name.as_str();
            let is_mapping = self.index.mappings.contains_key(name);
            if is_mapping || matches!(name, "env" | "secret" | "header") {
                let what = if is_mapping {
                    "a mapping"
                } else {
                    "a function of expressions"
                };
                self.error(
                    Diagnostic::error(
                        Code::InvalidArgument,
                        self.file,
                        call.name_span(),
                        format!("`{name}` cannot be a step's call"),
                    )
                    .with_label(format!("`{name}` is {what}"))
                    .with_hint(format!("wrap it in transform(...): `transform({name}(…))`")),
                );
                self.call(call);
                return None;
            }
        }
        match self.cx.signature(&full) {
            Some(sig) if sig.kind == FunctionKind::Pure => {
                self.error(
                    Diagnostic::error(
                        Code::InvalidArgument,
                        self.file,
                        call.name_span(),
                        format!("`{full}` is a pure function and cannot be a step's call"),
                    )
                    .with_label("not a step function")
                    .with_hint(format!("wrap it in transform(...): `transform({full}(…))`")),
                );
                self.arguments(call, sig);
                None
            }
            Some(sig) => {
                let connection = self.arguments(call, sig);
                Some(CallInfo {
                    function: sig.name.to_string(),
                    kind: sig.kind,
                    connection,
                })
            }
            None => {
                self.unknown_function(call, true);
                self.loose_arguments(call);
                None
            }
        }
    }

    /// E0305 for an unknown module, E0304 for an unknown function.
    fn unknown_function(&mut self, call: &Call, step_position: bool) {
        let full = call.name();
        let file = self.file;
        if call.path.len() >= 2 {
            let module = &call.path[0];
            if !self.cx.is_module(&module.name) {
                let modules = self.cx.module_names();
                let mut d = Diagnostic::error(
                    Code::UnknownModule,
                    file,
                    module.span,
                    format!("unknown module `{}`", module.name),
                )
                .with_label("no such module");
                d = match suggest(&module.name, modules.iter().copied()) {
                    Some(best) => d.with_hint(format!("did you mean `{best}`?")),
                    None => d.with_hint(format!("modules: {}", quoted_list(&modules))),
                };
                return self.error(d);
            }
            let names = self.cx.function_names(
                &[
                    FunctionKind::Pure,
                    FunctionKind::Step,
                    FunctionKind::Control,
                ],
                Some(&module.name),
            );
            let mut d = Diagnostic::error(
                Code::UnknownFunction,
                file,
                call.name_span(),
                format!("unknown function `{full}`"),
            )
            .with_label(format!("`{}` has no such function", module.name));
            if let Some(best) = suggest(&full, names.iter().copied()) {
                d = d.with_hint(format!("did you mean `{best}`?"));
            }
            return self.error(d);
        }
        let mut candidates: Vec<&str> = if step_position {
            self.cx
                .function_names(&[FunctionKind::Step, FunctionKind::Control], None)
        } else {
            let mut c = self.cx.function_names(&[FunctionKind::Pure], Some(""));
            c.extend(["env", "secret"]);
            if self.scope.mappings {
                c.extend(self.index.mapping_names());
            }
            c
        };
        candidates.sort_unstable();
        let what = if step_position {
            "step function"
        } else {
            "function or mapping"
        };
        let mut d = Diagnostic::error(
            Code::UnknownFunction,
            file,
            call.name_span(),
            format!("unknown {what} `{full}`"),
        )
        .with_label("not defined");
        if let Some(best) = suggest(&full, candidates.iter().copied()) {
            d = d.with_hint(format!("did you mean `{best}`?"));
        }
        self.error(d);
    }

    /// Walks the arguments of a call that could not be checked against a signature.
    fn loose_arguments(&mut self, call: &'s Call) {
        for arg in &call.args {
            match &arg.value.kind {
                ExprKind::Lambda(params, body) => self.lambda_body(params, body),
                _ => self.expr(&arg.value),
            }
        }
    }

    /// Checks the arguments of a call against `sig`. Returns the connection named by a
    /// connection-or-URL argument.
    fn arguments(&mut self, call: &'s Call, sig: &Signature) -> Option<String> {
        let positional: Vec<&'s Expr> = call.positional().collect();
        let max = sig.max_positional();
        if positional.len() < sig.required_positional || max.is_some_and(|m| positional.len() > m) {
            let span = match (max, positional.get(max.unwrap_or(0)), positional.last()) {
                (Some(m), Some(first_extra), Some(last)) if positional.len() > m => {
                    first_extra.span.to(last.span)
                }
                _ => call.span,
            };
            let expected = expected_count(sig.required_positional, max);
            let mut d = Diagnostic::error(
                Code::ArgumentCount,
                self.file,
                span,
                format!("`{}` {expected}, found {}", sig.name, positional.len()),
            )
            .with_label(if positional.len() < sig.required_positional {
                "missing arguments"
            } else {
                "too many arguments"
            });
            if !sig.summary.is_empty() {
                d = d.with_hint(format!("`{}`: {}", sig.name, sig.summary));
            }
            self.error(d);
        }
        let mut connection = None;
        for (i, arg) in positional.iter().enumerate() {
            match sig.arg_kind(i) {
                Some(kind) => self.argument(sig, kind, arg, &mut connection),
                None => self.loose_value(arg),
            }
        }
        self.named_arguments(call, sig);
        connection
    }

    /// Walks an argument, accepting a lambda without complaint (used where the count was wrong).
    fn loose_value(&mut self, arg: &'s Expr) {
        match &arg.kind {
            ExprKind::Lambda(params, body) => self.lambda_body(params, body),
            _ => self.expr(arg),
        }
    }

    /// Checks one positional argument of kind `kind`.
    fn argument(
        &mut self,
        sig: &Signature,
        kind: ArgKind,
        arg: &'s Expr,
        connection: &mut Option<String>,
    ) {
        let file = self.file;
        if let ExprKind::Lambda(params, body) = &arg.kind {
            match kind {
                ArgKind::Lambda(n) if params.len() == n => {}
                ArgKind::Lambda(n) => self.error(
                    Diagnostic::error(Code::InvalidArgument, file, arg.span, format!("`{}` expects a function of {n} parameter{}, found {}", sig.name, if n == 1 { "" } else { "s" }, params.len()))
                        .with_label("wrong number of parameters"),
                ),
                // `transform(EXPR)` holds a plain expression, where a lambda is misplaced.
                ArgKind::Value if sig.name == "transform" => return self.expr(arg),
                _ => self.error(
                    Diagnostic::error(Code::InvalidArgument, file, arg.span, format!("`{}` takes a value here, not a function", sig.name))
                        .with_label("a function is not allowed here")
                        .with_hint("functions (`x => …`) are arguments only of functions that call them, such as `map` and `filter`"),
                ),
            }
            return self.lambda_body(params, body);
        }
        match kind {
            ArgKind::Value => self.expr(arg),
            ArgKind::Lambda(n) => {
                let params = (1..=n)
                    .map(|i| {
                        if n == 1 {
                            "x".to_string()
                        } else {
                            format!("x{i}")
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                // A mapping's bare name is the likely intent: show how to wrap it, and do not
                // also report the name as unknown.
                let mapping = match &arg.kind {
                    ExprKind::Name(id) if self.index.mappings.contains_key(id.name.as_str()) => {
                        Some(id.name.as_str())
                    }
                    _ => None,
                };
                let example = match mapping {
                    Some(m) if n == 1 => format!("{params} => {m}({params})"),
                    Some(m) => format!("({params}) => {m}({params})"),
                    None if n == 1 => format!("{params} => …"),
                    None => format!("({params}) => …"),
                };
                self.error(
                    Diagnostic::error(
                        Code::InvalidArgument,
                        file,
                        arg.span,
                        format!("`{}` expects a function here", sig.name),
                    )
                    .with_label("not a function")
                    .with_hint(format!("write a function such as `{example}`")),
                );
                if mapping.is_none() {
                    self.expr(arg);
                }
            }
            ArgKind::ConnectionOrUrl => self.connection_or_url(arg, connection),
            ArgKind::WorkflowName => self.workflow_name(sig, arg),
            ArgKind::Duration => {
                if let Some(found) = literal_kind(arg) {
                    self.error(
                        Diagnostic::error(
                            Code::TypeMismatch,
                            file,
                            arg.span,
                            format!("`{}` expects a duration, found {found}", sig.name),
                        )
                        .with_label("not a duration")
                        .with_hint("write a duration literal such as `30s`, `5m`, `2h` or `1d`"),
                    );
                }
                self.expr(arg);
            }
        }
    }

    /// A connection name, or any expression giving a URL.
    fn connection_or_url(&mut self, arg: &'s Expr, connection: &mut Option<String>) {
        let ExprKind::Name(id) = &arg.kind else {
            return self.expr(arg);
        };
        let name = id.name.as_str();
        match self.index.connection(self.file, name) {
            ConnectionRef::Defined(_) => {
                *connection = Some(name.to_string());
                return;
            }
            ConnectionRef::Ambiguous(all) => {
                let mut d = Diagnostic::error(
                    Code::DuplicateItem,
                    self.file,
                    id.span,
                    format!("the connection `{name}` is defined in several files"),
                )
                .with_label(format!("this file defines no `{name}` of its own"));
                for at in all {
                    d = d.with_secondary(at.file, at.item.name.span, "defined here");
                }
                return self.error(d.with_hint(format!(
                    "define `{name}` in this file too, or rename the others so that one file \
                     defines it"
                )));
            }
            ConnectionRef::Unknown => {}
        }
        let is_loop_var = name == "item"
            || self
                .scope
                .for_each_vars
                .is_some_and(|m| m.contains_key(name));
        if self.in_scope(name) || is_loop_var {
            return self.expr(arg);
        }
        let names = self.index.connection_names();
        let mut d = Diagnostic::error(
            Code::UnknownConnection,
            self.file,
            id.span,
            format!("unknown connection `{name}`"),
        )
        .with_label("no connection (or value in scope) has this name");
        d = match suggest(name, names.iter().copied()) {
            Some(best) => d.with_hint(format!("did you mean `{best}`?")),
            None => d.with_hint(format!(
                "define it with `connection {name} {{ base_url \"…\" }}`, or pass a URL string"
            )),
        };
        self.error(d);
    }

    /// `workflow.run("name")`: a string literal naming a workflow of the project.
    fn workflow_name(&mut self, sig: &Signature, arg: &'s Expr) {
        let Some(name) = literal_string(arg) else {
            self.error(
                Diagnostic::error(
                    Code::InvalidArgument,
                    self.file,
                    arg.span,
                    format!(
                        "`{}` needs the workflow's name as a string literal",
                        sig.name
                    ),
                )
                .with_label("not a string literal")
                .with_hint("the child workflow must be known when the project is checked"),
            );
            return self.expr(arg);
        };
        if !self.index.workflow_names.contains_key(name.as_str()) {
            let names = self.index.workflow_name_list();
            let mut d = Diagnostic::error(
                Code::UnknownWorkflow,
                self.file,
                arg.span,
                format!("unknown workflow `{name}`"),
            )
            .with_label("no workflow of the project has this name");
            if let Some(best) = suggest(&name, names.iter().copied()) {
                d = d.with_hint(format!("did you mean `{best}`?"));
            }
            self.error(d);
        }
    }

    /// Named arguments: known (E0402), given once (E0103), required ones present (E0403).
    fn named_arguments(&mut self, call: &'s Call, sig: &Signature) {
        let file = self.file;
        let mut given: Vec<(&str, Span)> = Vec::new();
        for arg in &call.args {
            let Some(name) = &arg.name else { continue };
            if let Some(&(_, first)) = given.iter().find(|(n, _)| *n == name.name) {
                self.error(
                    Diagnostic::error(
                        Code::DuplicateOption,
                        file,
                        name.span,
                        format!("argument `{}` is given twice", name.name),
                    )
                    .with_label("given again here")
                    .with_secondary(file, first, "first given here"),
                );
            } else {
                given.push((name.name.as_str(), name.span));
            }
            if !sig.named.iter().any(|p| p.name == name.name) {
                let accepted: Vec<&str> = sig.named.iter().map(|p| p.name).collect();
                let hint = match suggest(&name.name, accepted.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None if accepted.is_empty() => {
                        format!("`{}` takes no named arguments", sig.name)
                    }
                    None => format!("`{}` accepts {}", sig.name, quoted_list(&accepted)),
                };
                self.error(
                    Diagnostic::error(
                        Code::UnknownArgument,
                        file,
                        name.span,
                        format!("`{}` has no argument `{}`", sig.name, name.name),
                    )
                    .with_label("unknown argument")
                    .with_hint(hint),
                );
            }
            match &arg.value.kind {
                ExprKind::Lambda(params, body) => {
                    self.error(
                        Diagnostic::error(
                            Code::InvalidArgument,
                            file,
                            arg.value.span,
                            format!("`{}` takes a value here, not a function", name.name),
                        )
                        .with_label("a function is not allowed here"),
                    );
                    self.lambda_body(params, body);
                }
                _ => {
                    // Named parameters carry no kind in signatures, but a `timeout:` is a
                    // duration wherever it appears (`wait_signal("x", timeout: 2d)`).
                    if name.name == "timeout" {
                        if let Some(found) = literal_kind(&arg.value) {
                            self.error(
                                Diagnostic::error(
                                    Code::TypeMismatch,
                                    file,
                                    arg.value.span,
                                    format!("`timeout:` expects a duration, found {found}"),
                                )
                                .with_label("not a duration")
                                .with_hint(
                                    "write a duration literal such as `30s`, `5m`, `2h` or `1d`",
                                ),
                            );
                        }
                    }
                    self.expr(&arg.value)
                }
            }
        }
        for param in sig.named.iter().filter(|p| p.required) {
            if !given.iter().any(|(n, _)| *n == param.name) {
                self.error(
                    Diagnostic::error(
                        Code::MissingArgument,
                        file,
                        call.name_span(),
                        format!("`{}` needs the argument `{}`", sig.name, param.name),
                    )
                    .with_label(format!("missing `{}: …`", param.name)),
                );
            }
        }
    }

    /// `env("NAME")` / `secret("NAME")`: one string literal, recorded so deploys can check it.
    fn config_call(&mut self, call: &'s Call, name: &str) {
        let file = self.file;
        for arg in call.args.iter().filter(|a| a.name.is_some()) {
            let span = arg.name.as_ref().map_or(arg.value.span, |n| n.span);
            self.error(
                Diagnostic::error(
                    Code::UnknownArgument,
                    file,
                    span,
                    format!("`{name}` takes no named arguments"),
                )
                .with_label("unknown argument"),
            );
        }
        let positional: Vec<&'s Expr> = call.positional().collect();
        let [arg] = positional.as_slice() else {
            self.error(
                Diagnostic::error(
                    Code::ArgumentCount,
                    file,
                    call.span,
                    format!("`{name}` takes 1 argument, found {}", positional.len()),
                )
                .with_label("expected the variable's name")
                .with_hint(format!("write `{name}(\"NAME\")`")),
            );
            positional.iter().for_each(|a| self.loose_value(a));
            return;
        };
        match literal_string(arg) {
            Some(value) if !value.is_empty() => {
                let set = if name == "env" {
                    &mut self.uses.env
                } else {
                    &mut self.uses.secrets
                };
                set.insert(value);
            }
            _ => {
                self.error(
                    Diagnostic::error(Code::InvalidArgument, file, arg.span, format!("`{name}()` needs a string literal naming the {}", if name == "env" { "variable" } else { "secret" }))
                        .with_label("not a non-empty string literal")
                        .with_hint("names must be literal so `braid check --requirements` can list what a deployment must set"),
                );
                self.loose_value(arg);
            }
        }
    }

    /// `header("Name")`, only in a webhook's `dedupe`.
    fn header_call(&mut self, call: &'s Call) {
        let file = self.file;
        if !self.scope.header_fn {
            self.error(
                Diagnostic::error(
                    Code::InvalidArgument,
                    file,
                    call.name_span(),
                    "`header()` can only be used in a webhook's `dedupe`",
                )
                .with_label(format!("not available {}", self.scope.place.describe()))
                .with_hint(
                    "in a webhook workflow, read request headers as `trigger.headers[\"name\"]`",
                ),
            );
            return self.loose_arguments(call);
        }
        let positional: Vec<&'s Expr> = call.positional().collect();
        let ok = call.args.iter().all(|a| a.name.is_none())
            && matches!(positional.as_slice(), [only] if literal_string(only).is_some_and(|s| !s.is_empty()));
        if !ok {
            self.error(
                Diagnostic::error(
                    Code::InvalidArgument,
                    file,
                    call.span,
                    "`header()` takes one string literal, the header's name",
                )
                .with_label("expected `header(\"Name\")`"),
            );
            self.loose_arguments(call);
        }
    }

    /// A call of a mapping: as many positional arguments as it has parameters.
    fn mapping_call(&mut self, call: &'s Call, mapping: Located<'s, Mapping>) {
        let file = self.file;
        let name = mapping.item.name.name.as_str();
        if !self.scope.mappings {
            self.error(
                Diagnostic::error(
                    Code::UnknownFunction,
                    file,
                    call.name_span(),
                    format!(
                        "mapping `{name}` cannot be called {}",
                        self.scope.place.describe()
                    ),
                )
                .with_label("mappings are not available here")
                .with_hint(match self.scope.place {
                    Place::Dedupe => {
                        "`dedupe` may use `input`, `trigger`, `header(\"Name\")` and pure functions"
                    }
                    _ => "only literals, `env()`, `secret()` and pure functions are available here",
                }),
            );
            return self.loose_arguments(call);
        }
        self.uses.add_mapping(name, call.name_span());
        let positional = call.positional().count();
        let params = mapping.item.params.len();
        if positional != params {
            self.error(
                Diagnostic::error(
                    Code::ArgumentCount,
                    file,
                    call.span,
                    format!(
                        "`{name}` {}, found {positional}",
                        expected_count(params, Some(params))
                    ),
                )
                .with_label(if positional < params {
                    "missing arguments"
                } else {
                    "too many arguments"
                })
                .with_secondary(
                    mapping.file,
                    mapping.item.name.span,
                    "mapping defined here",
                ),
            );
        }
        for arg in &call.args {
            if let Some(n) = &arg.name {
                self.error(
                    Diagnostic::error(
                        Code::UnknownArgument,
                        file,
                        n.span,
                        format!("mapping `{name}` takes no named arguments"),
                    )
                    .with_label("unknown argument"),
                );
            }
            match &arg.value.kind {
                ExprKind::Lambda(params, body) => {
                    self.error(
                        Diagnostic::error(
                            Code::InvalidArgument,
                            file,
                            arg.value.span,
                            format!("mapping `{name}` takes values, not functions"),
                        )
                        .with_label("a function is not allowed here"),
                    );
                    self.lambda_body(params, body);
                }
                _ => self.expr(&arg.value),
            }
        }
    }
}
