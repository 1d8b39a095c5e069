# Every SPIR-V variant of the operators, embedded in the deltavk library. Names are
# "<family>/<kernel>_<io dtype>[_<variant>]"; each becomes a kernel id (DVK_OPS_K_<NAME>) that
# the host code of the family (src/ops/<family>/*.c) uses.
#   io dtype:  f32 | f16 (DVK_IO_F16: token tensors stored as fp16)
#   sg | sh:   reductions with subgroup shuffles | with shared memory
# Variants whose GLSL extensions this glslc lacks are declared (their ids exist) but not built.

set(DVK_IO_TYPES f32 f16)
set(DVK_REDUCTIONS sh sg)

# The defines and glslc features of one io dtype / reduction variant.
macro(dvk_io_variant io)
  set(io_defs)
  set(io_req)
  if(${io} STREQUAL "f16")
    set(io_defs DVK_IO_F16=1)
    set(io_req FLOAT16_STORAGE)
  endif()
endmacro()
macro(dvk_reduction_variant red)
  set(red_defs)
  set(red_req)
  if(${red} STREQUAL "sg")
    set(red_defs DVK_SUBGROUP_REDUCE=1)
    set(red_req SUBGROUP_SHUFFLE)
  endif()
endmacro()

foreach(io ${DVK_IO_TYPES})
  dvk_io_variant(${io})
  foreach(red ${DVK_REDUCTIONS})
    dvk_reduction_variant(${red})
    dvk_shader(delta_rule/recurrent_${io}_${red} ops/delta_rule/recurrent.comp
               REQUIRES ${io_req} ${red_req} DEFINES ${io_defs} ${red_defs})
  endforeach()
  # The same, laid out for CPU devices (one subgroup per workgroup, no shared memory).
  dvk_shader(delta_rule/recurrent_cpu_${io} ops/delta_rule/recurrent_cpu.comp
             REQUIRES ${io_req} SUBGROUP_SHUFFLE DEFINES ${io_defs})
  # The decode step (one token), and the chunked form (WY representation): three stages and
  # an L2-norm pre-pass.
  foreach(stage decode sum_tiles chunk_prepare chunk_state chunk_output l2norm)
    dvk_shader(delta_rule/${stage}_${io} ops/delta_rule/${stage}.comp
               REQUIRES ${io_req} DEFINES ${io_defs})
  endforeach()
  # The chunked stages on cooperative matrices (tensor cores), fp16 only.
  if(io STREQUAL "f16")
    foreach(stage chunk_prepare chunk_state chunk_output)
      dvk_shader(delta_rule/${stage}_cm_${io} ops/delta_rule/${stage}_cm.comp COOPMAT
                 REQUIRES ${io_req} DEFINES ${io_defs})
    endforeach()
  endif()
endforeach()

# KDA and the generalized (DPLR) delta rule, chunked with a decay per key channel: a cumulative
# gate pass and three stages (the key read-out has its own output stage). fp32 FMA kernels for
# both io dtypes, and KDA's stages on tensor cores for fp16.
foreach(io ${DVK_IO_TYPES})
  dvk_io_variant(${io})
  foreach(stage gate_cumsum chunk_prepare chunk_state chunk_output chunk_output_key)
    dvk_shader(dplr/${stage}_${io} ops/dplr/${stage}.comp
               REQUIRES ${io_req} DEFINES ${io_defs})
  endforeach()
  # KDA's and RWKV-7's three stages on cooperative matrices (tensor cores), fp16 only.
  if(io STREQUAL "f16")
    foreach(stage chunk_prepare chunk_state chunk_output)
      dvk_shader(dplr/${stage}_cm_${io} ops/dplr/${stage}_cm.comp COOPMAT
                 REQUIRES ${io_req} DEFINES ${io_defs})
    endforeach()
  endif()
endforeach()

# Linear attention (token by token, and chunked: the state pass and the output pass), causal
# softmax attention inside segments, the rotary embedding, and Infini-attention's retrieval.
foreach(io ${DVK_IO_TYPES})
  dvk_io_variant(${io})
  foreach(red ${DVK_REDUCTIONS})
    dvk_reduction_variant(${red})
    dvk_shader(linear_attn/recurrent_${io}_${red} ops/linear_attn/recurrent.comp
               REQUIRES ${io_req} ${red_req} DEFINES ${io_defs} ${red_defs})
  endforeach()
  dvk_shader(linear_attn/recurrent_cpu_${io} ops/linear_attn/recurrent_cpu.comp
             REQUIRES ${io_req} SUBGROUP_SHUFFLE DEFINES ${io_defs})
  foreach(stage normalizer chunk_rho chunk_state chunk_output)
    dvk_shader(linear_attn/${stage}_${io} ops/linear_attn/${stage}.comp
               REQUIRES ${io_req} DEFINES ${io_defs})
  endforeach()
  if(io STREQUAL "f16")
    dvk_shader(linear_attn/chunk_output_cm_${io} ops/linear_attn/chunk_output_cm.comp COOPMAT
               REQUIRES ${io_req} DEFINES ${io_defs})
  endif()
  dvk_shader(softmax_attn/softmax_attn_${io} ops/softmax_attn/softmax_attn.comp
             REQUIRES ${io_req} DEFINES ${io_defs})
  dvk_shader(softmax_attn/softmax_attn_cpu_${io} ops/softmax_attn/softmax_attn_cpu.comp
             REQUIRES ${io_req} SUBGROUP_SHUFFLE DEFINES ${io_defs})
  dvk_shader(rope/rope_${io} ops/rope/rope.comp
             REQUIRES ${io_req} DEFINES ${io_defs})
  dvk_shader(infini_attn/retrieve_${io} ops/infini_attn/retrieve.comp
             REQUIRES ${io_req} DEFINES ${io_defs})
  foreach(stage retrieve update)
    dvk_shader(infini_attn/${stage}_cpu_${io} ops/infini_attn/${stage}_cpu.comp
               REQUIRES ${io_req} SUBGROUP_SHUFFLE DEFINES ${io_defs})
  endforeach()
endforeach()
