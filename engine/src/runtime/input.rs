//! Checking a run's input against the workflow's `input` block when the run starts.

use braid_dsl::eval::{type_name, Evaluator, Scope};
use braid_dsl::plan::{InputType, WorkflowPlan};
use serde_json::{Map, Value};

/// Why an input was refused; names the field, for a 400 answer or a CLI error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input field `{field}`: {message}")]
pub struct InputError {
    /// The field at fault (`$` for the input as a whole).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

fn error(field: &str, message: impl Into<String>) -> InputError {
    InputError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// The input a run starts with: `input` checked against the declared fields, defaults filled
/// in, absent optional fields set to `null`. Undeclared fields are kept (webhook payloads carry
/// more than a workflow reads). A workflow without an `input` block takes any object.
pub fn validate(plan: &WorkflowPlan, input: Value, ev: &Evaluator) -> Result<Value, InputError> {
    let mut fields = match input {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            return Err(error(
                "$",
                format!("the input must be a JSON object, got {}", type_name(&other)),
            ))
        }
    };
    if !plan.input_declared {
        return Ok(Value::Object(fields));
    }
    for spec in &plan.inputs {
        match fields.get(&spec.name) {
            Some(v) if !v.is_null() => {
                if !fits(spec.ty, v) {
                    return Err(error(
                        &spec.name,
                        format!("expected {}, got {}", spec.ty.name(), type_name(v)),
                    ));
                }
            }
            _ => {
                let value = match &spec.default {
                    Some(default) => ev.eval(default, &Scope::new()).map_err(|e| {
                        error(&spec.name, format!("the default cannot be evaluated: {e}"))
                    })?,
                    None if spec.optional => Value::Null,
                    None => {
                        return Err(error(
                            &spec.name,
                            format!("required ({}) but missing", spec.ty.name()),
                        ))
                    }
                };
                fields.insert(spec.name.clone(), value);
            }
        }
    }
    Ok(Value::Object(fields))
}

fn fits(ty: InputType, v: &Value) -> bool {
    match ty {
        InputType::String => v.is_string(),
        InputType::Int => v.is_i64() || v.is_u64(),
        InputType::Number => v.is_number(),
        InputType::Bool => v.is_boolean(),
        InputType::Object => v.is_object(),
        InputType::Array => v.is_array(),
        InputType::Any => true,
    }
}
